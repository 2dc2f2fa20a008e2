"""``demp train`` (one DemP run, a resumed one or a fine-tune) and ``demp schema`` (JSON Schema
of a config, for editors).

One output directory holds one run: a directory that already holds one (``metrics.jsonl``,
``prune_events.jsonl``, ``checkpoint/``, ``model/``) is refused unless ``--resume`` continues
it (log lines past the checkpoint's step are dropped, so steps never go backwards) or
``--overwrite`` removes that run's files first. ``--finetune`` trains an exported or saved
pruned network further with pruning frozen (``demp.methods.finetune``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from demp.cli import exits
from demp.cli.console import print_errors
from demp.errors import ConfigError, InputFileError


def register(subparsers: Any) -> None:
    """Add ``train`` and ``schema`` to the ``demp`` parser."""
    train = subparsers.add_parser("train", help="train one DemP run")
    train.add_argument("config", nargs="?",
                       help="trainer config YAML (default: built-in digits run)")
    train.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                       help="override a config field (repeatable), e.g. --set "
                       "demp.regularizer.peak=1e-3")
    train.add_argument("--output-dir",
                       help="where metrics.jsonl and the model go (default runs/train); "
                       "output_dir in the config wins")
    train.add_argument("--resume", metavar="CHECKPOINT_DIR",
                       help="continue a run exactly from its checkpoint (optimizer, schedules, "
                       "step); without CONFIG, with the checkpoint's own config")
    train.add_argument("--finetune", metavar="EXPORT_OR_CHECKPOINT_DIR",
                       help="train a pruned model further with pruning, regularization and "
                       "noise off (the architecture stays); epochs / max_steps count the "
                       "fine-tune alone; without CONFIG, with the source's own config")
    train.add_argument("--keep-optimizer", action="store_true",
                       help="with --finetune: keep the checkpoint's optimizer moments "
                       "(default: a fresh optimizer)")
    train.add_argument("--overwrite", action="store_true",
                       help="start clean in an output directory that already holds a run "
                       "(removes its metrics, prune events, checkpoint and model)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    schema = subparsers.add_parser("schema",
                                   help="print the JSON Schema of a config (for editors)")
    schema.add_argument("what", nargs="?", choices=["train", "sweep"], default="train")
    schema.set_defaults(func=cmd_schema)


def cmd_train(args: argparse.Namespace) -> int:
    """One run. What the config cannot say in advance gets one line each: contradictory flags,
    an output directory that cannot be written or already holds a run, a device this machine
    lacks, a ``--resume`` / ``--finetune`` directory without a readable checkpoint (exit 2),
    training that diverges (exit 1; what ran so far is kept)."""
    from demp.methods import build_trainer
    from demp.train.progress import ProgressBar, summary_table
    from demp.train.rundir import clear_run
    from demp.train.trainer import DeviceUnavailable, TrainingDiverged, resolve_device
    from demp.writable import directory_problem

    _check_flags(args)
    flag, source = ("--resume", args.resume) if args.resume is not None else \
        ("--finetune", args.finetune)
    if source is not None:
        problem = _checkpoint_problem(source)
        if problem:
            raise InputFileError(f"{flag}: {source} {problem}")
    cfg = _config(args)
    field = "output_dir"
    if cfg.output_dir is None:
        field = "--output-dir" if args.output_dir else "output_dir"
        cfg.output_dir = Path(args.output_dir or "runs/train")
    problem = directory_problem(cfg.output_dir)
    if problem:
        raise ConfigError(f"{field}: {cfg.output_dir} {problem}; choose a directory this user "
                          f"can create and write")
    _check_directory(args, field, Path(cfg.output_dir))
    try:
        resolve_device(cfg.device)
    except DeviceUnavailable as err:
        raise ConfigError(str(err)) from None
    callbacks = [] if args.quiet else [ProgressBar()]
    try:
        trainer = build_trainer(cfg, callbacks=callbacks, resume_from=args.resume,
                                init_from=args.finetune, keep_optimizer=args.keep_optimizer)
    except (RuntimeError, KeyError) as err:
        if source is None or isinstance(err, DeviceUnavailable):
            raise
        raise ConfigError(f"{flag}: the checkpoint in {source} does not fit this config "
                          f"({_first_line(err)}); give no CONFIG to use the one it was saved "
                          f"with") from None
    if args.overwrite:
        clear_run(cfg.output_dir)
    try:
        summary = trainer.fit()
    except TrainingDiverged as err:
        print_errors(f"diverged: {err}; lower optimizer.lr or regularization, or raise "
                     f"divergence_loss (metrics and checkpoints so far are in {cfg.output_dir})",
                     "training")
        return exits.FAILED
    summary_table(summary, Path(cfg.output_dir))
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that contradict each other, refused before anything is read."""
    if args.resume is not None and args.finetune is not None:
        raise ConfigError("--finetune: cannot be combined with --resume (--resume continues a "
                          "run as it was, pruning included; --finetune starts a new run from "
                          "its network with pruning off)")
    if args.keep_optimizer and args.finetune is None:
        raise ConfigError("--keep-optimizer: only applies with --finetune (--resume always "
                          "keeps the optimizer)")
    if args.overwrite and args.resume is not None:
        raise ConfigError("--overwrite: cannot be combined with --resume (--resume continues "
                          "the run's logs; --overwrite removes them)")


def _config(args: argparse.Namespace) -> Any:
    """The run's TrainConfig: CONFIG (or, for --resume / --finetune without one, the
    checkpoint's own config) with the --set overrides; a fine-tune's with pruning frozen."""
    from demp.config import TrainConfig, apply_overrides, load_train_config, load_yaml, validate
    from demp.methods import finetune_config, source_config

    overrides = args.set or []
    if args.finetune is not None:
        base = load_yaml(args.config) if args.config else source_config(args.finetune)
        own = base.get("output_dir") if args.config else None  # never the source run's
        return finetune_config(base, overrides, output_dir=own)
    if args.resume is not None and not args.config:
        base = source_config(args.resume)
        if args.output_dir:
            base["output_dir"] = None  # the command line names where this run goes
        return validate(TrainConfig, apply_overrides(base, list(overrides)))
    return load_train_config(args.config, overrides)


def _check_directory(args: argparse.Namespace, field: str, directory: Path) -> None:
    """One run per output directory: refuse one that holds a run unless told what to do."""
    from demp.train.rundir import CHECKPOINT_DIR, MODEL_DIR, run_files

    existing = run_files(directory)
    if not existing or args.resume is not None:
        return
    if not args.overwrite:
        names = ", ".join(n + "/" if n in (CHECKPOINT_DIR, MODEL_DIR) else n for n in existing)
        ckpt = next((directory / n for n in (CHECKPOINT_DIR, MODEL_DIR)
                     if (directory / n / "checkpoint.pt").is_file()), None)
        resume = f"--resume {ckpt}" if ckpt is not None else "--resume CHECKPOINT_DIR"
        raise ConfigError(f"{field}: {directory} already holds a run ({names}); pass {resume} "
                          f"to continue it or --overwrite to start clean")
    if args.finetune is not None:
        source = Path(args.finetune).resolve()
        for name in existing:
            if source == (directory / name).resolve() or \
                    (directory / name).resolve() in source.parents:
                raise ConfigError(f"--overwrite: would remove the --finetune source "
                                  f"{args.finetune}; choose another --output-dir")


def _checkpoint_problem(directory: str) -> str | None:
    """Why ``directory`` is not a checkpoint ``demp train --resume`` can continue from."""
    from demp.train.checkpoint import read

    try:
        read(directory)
    except FileNotFoundError:
        return "holds no checkpoint.pt (give a run's checkpoint/ or model/ directory)"
    except Exception as err:  # noqa: BLE001 - torch.load raises many kinds on a foreign file
        return f"is not a readable demp checkpoint ({_first_line(err)})"
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__


def cmd_schema(args: argparse.Namespace) -> int:
    if args.what == "sweep":
        from demp.spec import sweep_json_schema

        print(sweep_json_schema())
    else:
        from demp.config import TrainConfig, json_schema

        print(json_schema(TrainConfig))
    return 0


__all__ = ["register"]

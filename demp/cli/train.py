"""``demp train`` (one DemP run) and ``demp schema`` (JSON Schema of a config, for editors)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from demp.cli.console import print_errors
from demp.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add ``train`` and ``schema`` to the ``demp`` parser."""
    train = subparsers.add_parser("train", help="train one DemP run")
    train.add_argument("config", nargs="?",
                       help="trainer config YAML (default: built-in digits run)")
    train.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                       help="override a config field (repeatable), e.g. --set "
                       "demp.regularizer.peak=1e-3")
    train.add_argument("--output-dir",
                       help="where metrics.jsonl and the model go (default runs/train)")
    train.add_argument("--resume", metavar="CHECKPOINT_DIR", help="continue from a checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    schema = subparsers.add_parser("schema",
                                   help="print the JSON Schema of a config (for editors)")
    schema.add_argument("what", nargs="?", choices=["train", "sweep"], default="train")
    schema.set_defaults(func=cmd_schema)


def cmd_train(args: argparse.Namespace) -> int:
    """One run. What the config cannot say in advance gets one line each: an output directory
    that cannot be written, a device this machine lacks, a ``--resume`` directory without a
    readable checkpoint (exit 2), training that diverges (exit 1; what ran so far is kept)."""
    from demp.config import load_train_config
    from demp.methods import build_trainer
    from demp.train.progress import ProgressBar, summary_table
    from demp.train.trainer import DeviceUnavailable, TrainingDiverged, resolve_device
    from demp.writable import directory_problem

    cfg = load_train_config(args.config, args.set or [])
    field = "output_dir"
    if cfg.output_dir is None:
        field = "--output-dir" if args.output_dir else "output_dir"
        cfg.output_dir = Path(args.output_dir or "runs/train")
    problem = directory_problem(cfg.output_dir)
    if problem:
        raise ConfigError(f"{field}: {cfg.output_dir} {problem}; choose a directory this user "
                          f"can create and write")
    try:
        resolve_device(cfg.device)
    except DeviceUnavailable as err:
        raise ConfigError(str(err)) from None
    if args.resume is not None:
        problem = _checkpoint_problem(args.resume)
        if problem:
            raise ConfigError(f"--resume: {args.resume} {problem}")
    callbacks = [] if args.quiet else [ProgressBar()]
    try:
        trainer = build_trainer(cfg, callbacks=callbacks, resume_from=args.resume)
    except (RuntimeError, KeyError) as err:
        if args.resume is None or isinstance(err, DeviceUnavailable):
            raise
        raise ConfigError(f"--resume: the checkpoint in {args.resume} does not fit this config "
                          f"({_first_line(err)}); resume with the config it was saved with") \
            from None
    try:
        summary = trainer.fit()
    except TrainingDiverged as err:
        print_errors(f"training diverged: {err}; lower optimizer.lr or regularization, or raise "
                     f"divergence_loss (metrics and checkpoints so far are in {cfg.output_dir})")
        return 1
    summary_table(summary, Path(cfg.output_dir))
    return 0


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

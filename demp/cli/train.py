"""``demp train`` (one DemP run) and ``demp schema`` (JSON Schema of a config, for editors)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


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
    from demp.config import load_train_config
    from demp.methods import build_trainer
    from demp.train.progress import ProgressBar, summary_table

    cfg = load_train_config(args.config, args.set or [])
    if cfg.output_dir is None:
        cfg.output_dir = Path(args.output_dir or "runs/train")
    callbacks = [] if args.quiet else [ProgressBar()]
    trainer = build_trainer(cfg, callbacks=callbacks, resume_from=args.resume)
    summary = trainer.fit()
    summary_table(summary, Path(cfg.output_dir))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.what == "sweep":
        from demp.spec import sweep_json_schema

        print(sweep_json_schema())
    else:
        from demp.config import TrainConfig, json_schema

        print(json_schema(TrainConfig))
    return 0


__all__ = ["register"]

"""`demp` command line: train, sweep …, schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from demp.config import ConfigError


def _train(args: argparse.Namespace) -> int:
    from demp.config import load_train_config
    from demp.train.progress import ProgressBar, summary_table
    from demp.train.trainer import Trainer

    cfg = load_train_config(args.config, args.set or [])
    if cfg.output_dir is None:
        cfg.output_dir = Path(args.output_dir or "runs/train")
    callbacks = [] if args.quiet else [ProgressBar()]
    trainer = Trainer(cfg, callbacks=callbacks, resume_from=args.resume)
    summary = trainer.fit()
    summary_table(summary, Path(cfg.output_dir))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from demp.config import TrainConfig, json_schema

    if args.what == "sweep":
        from demp.sweep.spec import sweep_json_schema

        print(sweep_json_schema())
    else:
        print(json_schema(TrainConfig))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demp", description="Demon Pruning trainer and Pareto-frontier sweep service."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one DemP run")
    train.add_argument("config", nargs="?", help="trainer config YAML (default: built-in digits run)")
    train.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                       help="override a config field (repeatable), e.g. --set demp.regularizer.peak=1e-3")
    train.add_argument("--output-dir", help="where metrics.jsonl and the model go (default runs/train)")
    train.add_argument("--resume", metavar="CHECKPOINT_DIR", help="continue from a checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    schema = sub.add_parser("schema", help="print the JSON Schema of a config (for editors)")
    schema.add_argument("what", nargs="?", choices=["train", "sweep"], default="train")
    schema.set_defaults(func=_schema)

    from demp.sweep import cli as sweep_cli
    from demp.track import dashboards

    sweep_cli.register(sub)
    dashboards.register(sub)
    return parser


def main(argv: list[str] | None = None) -> Any:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"error: invalid configuration\n{err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

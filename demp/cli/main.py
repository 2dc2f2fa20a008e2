"""The ``demp`` command: one parser for every sub-command, one error handler for all of them.

A ``ConfigError`` (a bad config, spec, path or trial name) or a missing file is the user's to
fix: it is printed as one ``error: ...`` line per problem on stderr and the exit status is 2.
Anything else is a bug or an outage and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from demp.cli import sweep, train, workspace
from demp.cli.console import print_errors
from demp.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demp", description="Demon Pruning trainer and Pareto-frontier sweep service."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train.register(sub)
    sweep.register(sub)
    workspace.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, FileNotFoundError) as err:
        print_errors(str(err))
        return 2


if __name__ == "__main__":
    sys.exit(main())

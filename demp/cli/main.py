"""The ``demp`` command: one parser for every sub-command, one error handler for all of them.

A ``ConfigError`` (a bad config or spec, an unreadable file, a path that is no sweep directory,
an unknown trial, a busy port: its ``category``) or a missing file is the user's to fix: it is
printed as one ``error: <category>: ...`` line per problem on stderr and the exit status is 2.
Anything else is a bug or an outage and keeps its traceback (exit 1). The statuses are
``demp.cli.exits``.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from demp.cli import exits, sweep, train, workspace
from demp.cli.console import print_errors
from demp.errors import ConfigError

EPILOG = """exit status: 0 done; 1 an error (traceback) or damaged ledgers; 2 bad input (config,
file, sweep directory, trial, port); 3 a sweep whose trials partly or all failed; 4 a sweep that
stopped short of its planned trials; 130 interrupted (Ctrl-C / SIGTERM; `demp sweep resume DIR`
continues)."""


def version() -> str:
    try:
        return metadata.version("demp")
    except metadata.PackageNotFoundError:  # a checkout on sys.path, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demp", description="Demon Pruning trainer and Pareto-frontier sweep service.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"demp {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.register(sub)
    sweep.register(sub)
    workspace.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print_errors(str(err), err.category)
        return exits.BAD_INPUT
    except FileNotFoundError as err:
        print_errors(str(err), "file")
        return exits.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())

"""``demp sweep compare DIR1 DIR2 ...``: several sweeps' frontiers under one reference point,
their budgets, and their hypervolumes with bootstrap intervals over seeds (``demp.results.
compare`` and ``compare_stats`` do the work; this module parses and prints)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from demp.cli.console import console, warn
from demp.cli.tables import best_at_table, comparison_table, uncertainty_table
from demp.errors import ConfigError
from demp.results import (
    budget_warnings, compare_sweeps, comparison_csv, comparison_document, default_output,
    plot_comparison,
)
from demp.results.compare_stats import uncertainty, uncertainty_document
from demp.spec import sweep_directory


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``compare`` to the ``demp sweep`` sub-commands."""
    p = subparsers.add_parser(
        "compare", help="overlay several sweeps' frontiers; hypervolumes under one reference")
    p.add_argument("directories", type=sweep_directory, nargs="+", metavar="DIR",
                   help="sweep directories (or names of sweeps in sweeps_out/)")
    p.add_argument("--reference", type=_floats, default=None, metavar="V[,V...]",
                   help="common reference point, one value per objective (default: the "
                   "sweeps' shared one, else the least favourable of theirs)")
    p.add_argument("--output", type=Path, default=None,
                   help="the overlay plot (default: beside the sweeps, "
                   "<their parent>/compare-<a>-vs-<b>.png)")
    p.add_argument("--at-sparsity", type=_floats, default=[], metavar="S[,S...]",
                   help="also report each sweep's best accuracy among configurations whose "
                   "(mean) sparsity reaches S, with its 95%% interval over seeds")
    p.add_argument("--draws", type=int, default=2000,
                   help="bootstrap draws for the hypervolume intervals (default 2000)")
    p.add_argument("--equal-trials", action="store_true",
                   help="take every sweep's frontier after the same number of finished trials "
                   "(the smallest count): hypervolume per trial spent")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table",
                   help="what to print (default: a table)")
    p.set_defaults(func=cmd_compare)
    return p


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def cmd_compare(args: argparse.Namespace) -> int:
    if args.draws < 1:
        raise ConfigError(f"--draws: must be at least 1, got {args.draws}")
    c = compare_sweeps(args.directories, args.reference, equal_trials=args.equal_trials)
    u = uncertainty(c, args.at_sparsity, draws=args.draws)
    output = args.output or default_output(args.directories)
    plot_comparison(c, output)
    for line in budget_warnings(c):
        warn(line)
    if args.format == "json":
        doc = {**comparison_document(c), "uncertainty": uncertainty_document(u)}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    elif args.format == "csv":
        sys.stdout.write(comparison_csv(c))
    else:
        console.print(comparison_table(c))
        console.print(uncertainty_table(u))
        if u.levels:
            console.print(best_at_table(u))
        console.print(f"plot: {output}", highlight=False)
    return 0


__all__ = ["register"]

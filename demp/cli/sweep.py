"""``demp sweep ...``: run, resume, watch and read sweeps.

    demp sweep run SPEC [--set KEY=VALUE ...] [--overwrite] [--quiet]
    demp sweep resume DIR [--quiet]
    demp sweep status DIR
    demp sweep frontier DIR [--format csv|json|png] [--output PATH]
    demp sweep replicate DIR [--seeds K] [--stage frontier|all] [--quiet]
    demp sweep compare DIR1 DIR2 ... [--reference V,V] [--at-sparsity S,S] [--equal-trials]
                       [--draws N] [--output PNG] [--format table|json|csv]   (demp.cli.compare)
    demp sweep export DIR TRIAL [--output DIR]
    demp sweep report DIR [--output PATH]
    demp sweep dashboard DIR [--host 127.0.0.1] [--port 8080]
    demp sweep validate SPEC [--set KEY=VALUE ...]

``register(subparsers)`` adds the ``sweep`` command to the ``demp`` parser; every sub-command sets
``func``. The handlers only parse, call the use case and print: running is ``demp.sweep``, reading
is ``demp.results``. Exit statuses are ``demp.cli.exits``. Ray is only imported by ``run``,
``resume`` and ``replicate``, after the environment that
keeps a local Ray instance on 127.0.0.1 is set, so ``status`` / ``frontier`` / ``validate`` stay
quick.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.markup import escape

from demp.cli import compare, exits
from demp.cli.console import console, err_console, warn
from demp.cli.display import display_for
from demp.cli.tables import (
    print_frontier, print_interrupted, print_outcome, print_replicated, print_target,
)
from demp.errors import ConfigError
from demp.results import SweepOutcome, export_trial, finalize, load_sweep, write_report
from demp.results.records import counts
from demp.results.replicates import replicate_jobs
from demp.spec import (
    driver_owner, load_spec, open_storage, spec_warnings, storage_label, sweep_directory,
)

DIR_HELP = "a sweep directory, or the name of a sweep in sweeps_out/"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sweep`` and its sub-commands to an argparse sub-parser collection."""
    sweep = subparsers.add_parser("sweep", help="hyperparameter sweeps (Ray Tune + Optuna)",
                                  description=__doc__.split("\n\n")[0])
    sub = sweep.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="start a sweep from a spec")
    p.add_argument("spec", type=Path, help="sweep spec (YAML)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec field, e.g. trials=8 or base.epochs=3 (repeatable)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete an existing sweep of the same name first")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a sweep whose driver stopped")
    p.add_argument("directory", type=sweep_directory, help=DIR_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("status", help="trial counts, frontier and hypervolume of a sweep")
    p.add_argument("directory", type=sweep_directory, help=DIR_HELP)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("frontier", help="write / print the Pareto frontier")
    p.add_argument("directory", type=sweep_directory, help=DIR_HELP)
    p.add_argument("--format", choices=["csv", "json", "png"], default=None,
                   help="print this format (png: write the plot); default: a table")
    p.add_argument("--output", type=Path, default=None, help="also write the file here")
    p.set_defaults(func=cmd_frontier)

    p = sub.add_parser("export", help="a trial's pruned model and config, ready to load")
    p.add_argument("directory", type=sweep_directory, help=DIR_HELP)
    p.add_argument("trial", help="Ray trial id (or a unique prefix) or Optuna trial number")
    p.add_argument("--output", type=Path, default=None,
                   help="target directory (default: DIR/exports/<trial id>)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="one self-contained HTML report (and PNGs), offline")
    p.add_argument("directory", type=sweep_directory, help=DIR_HELP)
    p.add_argument("--output", type=Path, default=None,
                   help="the HTML file (default: DIR/report/index.html); PNGs go beside it")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("dashboard", help="optuna-dashboard on the sweep's study")
    p.add_argument("directory", type=sweep_directory, help=DIR_HELP)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("replicate", help="re-run a finished search's configurations on more "
                       "seeds (frontier of means with error bars)")
    p.add_argument("directory", type=sweep_directory, help=DIR_HELP)
    p.add_argument("--seeds", type=int, default=3,
                   help="seeds per configuration, the search trial's own included (default 3)")
    p.add_argument("--stage", choices=["frontier", "all"], default="frontier",
                   help="frontier: the frontier's configurations (default); all: every complete "
                   "trial")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_replicate)

    p = sub.add_parser("validate", help="check a spec without running it")
    p.add_argument("spec", type=Path)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_validate)
    compare.register(sub)  # demp sweep compare: several sweeps under one reference point
    return sweep




def _prepare_driver_env(spec: Any) -> None:
    """Before Ray is imported: loopback-only unless the spec joins a cluster off this machine.

    A driver also owns its W&B service: ``WANDB_SERVICE`` inherited from a parent process (a
    notebook, a test) would make this driver's runs streams of the parent's wandb-core, and a
    killed driver would leave its run id "in use" there, so the resumed driver could not open it.
    """
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0" if spec.ray.is_local else "1")
    os.environ.pop("WANDB_SERVICE", None)


def cmd_run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, args.overrides)
    for w in spec_warnings(spec):
        warn(w)
    _prepare_driver_env(spec)
    from demp.sweep import run_sweep

    t0 = time.time()
    outcome = run_sweep(spec, overwrite=args.overwrite,
                        display=display_for(err_console, args.quiet))
    return _ended(outcome, time.time() - t0)


def cmd_resume(args: argparse.Namespace) -> int:
    outcome = load_sweep(args.directory)  # validates the directory and its spec first
    _prepare_driver_env(outcome.spec)
    from demp.sweep import resume_sweep

    t0 = time.time()
    outcome = resume_sweep(args.directory, display=display_for(err_console, args.quiet))
    if outcome.already_finished:
        c = outcome.counts
        console.print(f"{outcome.paths.root}: already finished — {outcome.finished}/"
                      f"{outcome.spec.trials} trials ({c['complete']} complete, "
                      f"{c['truncated']} truncated, {c['failed']} failed); nothing to resume "
                      f"(`demp sweep status` shows the frontier)", highlight=False)
        return exits.TRIALS_FAILED if c["failed"] else exits.OK
    if args.quiet:  # otherwise the progress display showed them as they happened
        for note in outcome.notes:
            warn(note, "reconciled")
    return _ended(outcome, time.time() - t0)


def cmd_replicate(args: argparse.Namespace) -> int:
    if args.seeds < 2:
        raise ConfigError(f"--seeds: need at least 2 seeds per configuration, got {args.seeds}")
    outcome = load_sweep(args.directory)
    _prepare_driver_env(outcome.spec)
    from demp.sweep import replicate_sweep

    outcome = replicate_sweep(args.directory, args.seeds, args.stage,
                              display=display_for(err_console, args.quiet))
    if outcome.stopped_by:
        print_interrupted(outcome)
        return exits.INTERRUPTED
    print_replicated(outcome)
    return exits.TRIALS_FAILED if any(r.status == "failed" for r in outcome.replicates) \
        else exits.OK


def _ended(outcome: SweepOutcome, seconds: float) -> int:
    """What a driver that returned prints, and its exit status (``demp.cli.exits``)."""
    if outcome.stopped_by:
        print_interrupted(outcome)
        return exits.INTERRUPTED
    print_outcome(outcome, seconds)
    if outcome.finished < outcome.spec.trials:
        return exits.INCOMPLETE
    return exits.TRIALS_FAILED if outcome.counts["failed"] else exits.OK


def cmd_status(args: argparse.Namespace) -> int:
    """Counts, driver, frontier; exit 1 when the ledgers are damaged or disagree (while no
    driver runs: a driver's files are in flux), which it lists first and never calls done."""
    from demp.sweep.damage import Damage, find_damage

    outcome = load_sweep(args.directory)
    spec, paths = outcome.spec, outcome.paths
    owner = driver_owner(paths)
    running = _running_trials(outcome) if owner else 0
    damage = Damage() if owner else find_damage(outcome)
    c = outcome.counts
    finished = sum(c.values())
    console.print(f"[bold]{spec.name}[/bold]  {paths.root}", highlight=False)
    console.print(f"trials: {finished}/{spec.trials} finished — {c['complete']} complete, "
                  f"{c['truncated']} truncated, {c['failed']} failed; {running} running",
                  highlight=False)
    for line in damage.repairable:
        console.print(f"[yellow]damage:[/yellow] {escape(line)}", highlight=False)
    for line in damage.lost:
        console.print(f"[red]lost:[/red] {escape(line)}", highlight=False)
    pending = (len(replicate_jobs(spec, outcome, spec.replicates.seeds, spec.replicates.stage))
               if spec.replicates is not None and finished >= spec.trials else 0)
    if owner:
        console.print(f"driver: running (pid {owner[0]} on {owner[1]})", highlight=False)
    elif damage.repairable:
        console.print(f"driver: not running — the ledgers above disagree or are damaged; "
                      f"`demp sweep resume {paths.root}` repairs them (keeping a copy of every "
                      f"file it rewrites) and finishes the sweep", highlight=False)
    elif finished < spec.trials:
        console.print(f"driver: not running — continue with `demp sweep resume {paths.root}`",
                      highlight=False)
    elif pending:
        console.print(f"driver: not running — the search finished, {pending} replicate run(s) "
                      f"of the spec's `replicates` are pending; continue with `demp sweep resume "
                      f"{paths.root}`", highlight=False)
    elif damage.lost:
        console.print("driver: not running — every trial finished and the ledgers agree, but "
                      "the files listed as lost above are gone", highlight=False)
    else:
        console.print("driver: done", highlight=False)
    console.print(f"optuna: study {spec.resolved_study_name!r} in "
                  f"{storage_label(spec.storage, paths)} — watch it with `demp sweep dashboard "
                  f"{paths.root}`", highlight=False)
    print_target(outcome)
    print_frontier(outcome.frontier)
    if outcome.replicates:
        rc = counts(outcome.replicates)
        console.print(f"replicates: {sum(rc.values())} ended — {rc['complete']} complete, "
                      f"{rc['failed']} failed", highlight=False)
        print_replicated(outcome)
    failed = [r for r in outcome.records if r.status == "failed"]
    for r in failed:
        console.print(f"[red]failed[/red] {r.trial_id}: {escape(r.reason)}", highlight=False)
    return 1 if damage else 0


def _running_trials(outcome: SweepOutcome) -> int:
    """Optuna trials asked but not told that trials.jsonl has not recorded either."""
    try:
        import optuna

        storage = open_storage(outcome.spec.storage, outcome.paths)
        study = optuna.load_study(study_name=outcome.spec.resolved_study_name, storage=storage)
        done = {r.trial_id for r in outcome.records}
        return sum(1 for t in study.get_trials(deepcopy=False,
                                               states=[optuna.trial.TrialState.RUNNING])
                   if t.user_attrs.get("ray_trial_id") not in done)
    except Exception:  # status must work even when the storage is unreachable
        return 0


def cmd_frontier(args: argparse.Namespace) -> int:
    outcome = load_sweep(args.directory)
    outcome = finalize(outcome.spec, outcome.paths)  # rewrite csv / json / png from the ledger
    paths = outcome.paths
    source = {"csv": paths.frontier_csv, "json": paths.frontier_json,
              "png": paths.frontier_png}.get(args.format or "")
    if args.output is not None:
        if source is None:
            raise ConfigError("--output: needs --format csv, json or png")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, args.output)
    if args.format in ("csv", "json"):
        sys.stdout.write(source.read_text())
    elif args.format == "png":
        console.print(str(args.output or source), highlight=False)
    else:
        print_frontier(outcome.frontier)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a trial, then say how to use it: the one call that classifies raw inputs (the
    normalization is inside the loaded model; trial.json spells it out) and the fine-tune that
    keeps the exported architecture (pruning, regularization and noise off). Commands are never
    wrapped, so they paste whole."""
    target = export_trial(load_sweep(args.directory), args.trial, args.output)
    for line in (f"exported to {target}",
                 f"  predict:   from demp.train import load_export; "
                 f"labels = load_export('{target}').predict(X)",
                 f"             (X raw, as the dataset gives it; the preprocessing applied is in "
                 f"{target / 'trial.json'})",
                 f"  fine-tune: demp train --finetune {target} --set epochs=N --output-dir DIR",
                 "             (pruning, regularization and noise off: the architecture stays "
                 "as exported; a fresh optimizer; N epochs of fine-tuning alone)"):
        console.print(line, highlight=False, soft_wrap=True)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    target = write_report(args.directory, args.output)
    console.print(f"report: {target} (self-contained; PNGs beside it in {target.parent})",
                  highlight=False)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from demp.sweep.optuna_dashboard import is_loopback, make_dashboard_server, url_of

    server, study, storage = make_dashboard_server(args.directory, args.host, args.port)
    if not is_loopback(args.host):
        warn(f"optuna-dashboard has no authentication and can edit the study; it is listening "
             f"on {args.host}, reachable from other machines")
    console.print(f"optuna-dashboard: {url_of(server)}  (study {study!r} in {storage}; Ctrl-C "
                  f"stops it)", highlight=False)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, args.overrides)
    for w in spec_warnings(spec):
        warn(w)
    params = ", ".join(spec.space)
    console.print(f"{args.spec}: valid — {spec.trials} trials, sampler {spec.sampler.name} "
                  f"(seed {spec.sampler.seed}), objectives "
                  f"{', '.join(f'{o.direction} {o.metric}' for o in spec.objectives)}"
                  f"{_constraint_text(spec)}; searching {params}", highlight=False)
    return 0


def _constraint_text(spec: Any) -> str:
    target = spec.base.demp.target
    if target is None:
        return ""
    return (f" subject to |{target.metric} - {target.value:g}| <= "
            f"{spec.resolved_tolerance:g}")





__all__ = ["register"]

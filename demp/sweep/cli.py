"""``demp sweep ...``: run, resume, watch and read sweeps.

    demp sweep run SPEC [--set KEY=VALUE ...] [--overwrite] [--quiet]
    demp sweep resume DIR [--quiet]
    demp sweep status DIR
    demp sweep frontier DIR [--format csv|json|png] [--output PATH]
    demp sweep compare DIR1 DIR2 ... [--reference V,V] [--output PNG] [--format table|json|csv]
    demp sweep export DIR TRIAL [--output DIR]
    demp sweep report DIR [--output PATH]
    demp sweep dashboard DIR [--host 127.0.0.1] [--port 8080]
    demp sweep validate SPEC [--set KEY=VALUE ...]

``register(subparsers)`` adds the ``sweep`` command to the main ``demp`` parser; every
sub-command sets ``func``. ``python -m demp.sweep.cli sweep ...`` works on its own too.
Ray is only imported by ``run`` and ``resume``, after the environment that keeps a local Ray
instance on 127.0.0.1 is set, so ``status`` / ``frontier`` / ``validate`` stay quick.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from demp.config import ConfigError
from demp.sweep.compare import add_compare_parser
from demp.sweep.results import Frontier, SweepOutcome, TrialRecord, counts, load_sweep

# Pipes and logs get wide tables instead of rich's 80-column default.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)

# Column labels for the usual DemP parameters; other paths show their last two segments.
PARAM_LABELS = {
    "demp.regularizer.peak": "λ", "demp.noise.peak": "σ", "demp.schedule.shape": "shape",
    "demp.schedule.pct_start": "pct_start", "demp.schedule.span_fraction": "span",
    "demp.death.prune_interval": "prune every",
}


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
    p.add_argument("directory", type=Path)
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("status", help="trial counts, frontier and hypervolume of a sweep")
    p.add_argument("directory", type=Path)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("frontier", help="write / print the Pareto frontier")
    p.add_argument("directory", type=Path)
    p.add_argument("--format", choices=["csv", "json", "png"], default=None,
                   help="print this format (png: write the plot); default: a table")
    p.add_argument("--output", type=Path, default=None, help="also write the file here")
    p.set_defaults(func=cmd_frontier)

    p = sub.add_parser("export", help="a trial's pruned model and config, ready to load")
    p.add_argument("directory", type=Path)
    p.add_argument("trial", help="Ray trial id (or a unique prefix) or Optuna trial number")
    p.add_argument("--output", type=Path, default=None,
                   help="target directory (default: DIR/exports/<trial id>)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="one self-contained HTML report (and PNGs), offline")
    p.add_argument("directory", type=Path)
    p.add_argument("--output", type=Path, default=None,
                   help="the HTML file (default: DIR/report/index.html); PNGs go beside it")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("dashboard", help="optuna-dashboard on the sweep's study")
    p.add_argument("directory", type=Path)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("validate", help="check a spec without running it")
    p.add_argument("spec", type=Path)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_validate)
    add_compare_parser(sub)  # demp sweep compare: several sweeps under one reference point
    return sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demp")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        for line in str(err).splitlines():
            err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False, markup=True)
        return 2


# ------------------------------------------------------------------------------ commands


def _prepare_driver_env(spec: Any) -> None:
    """Before Ray is imported: loopback-only unless the spec joins a cluster off this machine.

    A driver also owns its W&B service: ``WANDB_SERVICE`` inherited from a parent process (a
    notebook, a test) would make this driver's runs streams of the parent's wandb-core, and a
    killed driver would leave its run id "in use" there, so the resumed driver could not open it.
    """
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0" if spec.ray.is_local else "1")
    os.environ.pop("WANDB_SERVICE", None)


def _display(quiet: bool) -> Any | None:
    if quiet:
        return None
    return LiveDisplay(err_console) if err_console.is_terminal else LineDisplay(err_console)


def cmd_run(args: argparse.Namespace) -> int:
    from demp.sweep.spec import load_spec, spec_warnings

    spec = load_spec(args.spec, args.overrides)
    for w in spec_warnings(spec):
        err_console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    _prepare_driver_env(spec)
    from demp.sweep.runner import run_sweep

    t0 = time.time()
    outcome = run_sweep(spec, overwrite=args.overwrite, display=_display(args.quiet))
    print_outcome(outcome, time.time() - t0)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    outcome = load_sweep(args.directory)  # validates the directory and its spec first
    _prepare_driver_env(outcome.spec)
    from demp.sweep.runner import resume_sweep

    t0 = time.time()
    outcome = resume_sweep(args.directory, display=_display(args.quiet))
    if args.quiet:  # otherwise the progress display showed them as they happened
        for note in outcome.notes:
            err_console.print(f"[yellow]reconciled:[/yellow] {note}", highlight=False)
    print_outcome(outcome, time.time() - t0)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from demp.sweep.storage import driver_owner, storage_label

    outcome = load_sweep(args.directory)
    spec, paths = outcome.spec, outcome.paths
    owner = driver_owner(paths)
    running = _running_trials(outcome) if owner else 0
    c = outcome.counts
    finished = sum(c.values())
    console.print(f"[bold]{spec.name}[/bold]  {paths.root}", highlight=False)
    console.print(f"trials: {finished}/{spec.trials} finished — {c['complete']} complete, "
                  f"{c['truncated']} truncated, {c['failed']} failed; {running} running",
                  highlight=False)
    if owner:
        console.print(f"driver: running (pid {owner[0]} on {owner[1]})", highlight=False)
    elif finished < spec.trials:
        console.print(f"driver: not running — continue with `demp sweep resume {paths.root}`",
                      highlight=False)
    else:
        console.print("driver: done", highlight=False)
    console.print(f"optuna: study {spec.resolved_study_name!r} in "
                  f"{storage_label(spec.storage, paths)} — watch it with `demp sweep dashboard "
                  f"{paths.root}`", highlight=False)
    print_target(outcome)
    print_frontier(outcome.frontier)
    failed = [r for r in outcome.records if r.status == "failed"]
    for r in failed:
        console.print(f"[red]failed[/red] {r.trial_id}: {r.reason}", highlight=False)
    return 0


def _running_trials(outcome: SweepOutcome) -> int:
    """Optuna trials asked but not told that trials.jsonl has not recorded either."""
    try:
        import optuna

        from demp.sweep.storage import open_storage

        storage = open_storage(outcome.spec.storage, outcome.paths)
        study = optuna.load_study(study_name=outcome.spec.resolved_study_name, storage=storage)
        done = {r.trial_id for r in outcome.records}
        return sum(1 for t in study.get_trials(deepcopy=False,
                                               states=[optuna.trial.TrialState.RUNNING])
                   if t.user_attrs.get("ray_trial_id") not in done)
    except Exception:  # status must work even when the storage is unreachable
        return 0


def cmd_frontier(args: argparse.Namespace) -> int:
    from demp.sweep.results import finalize

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


def find_record(records: list[TrialRecord], key: str) -> TrialRecord:
    """A record by Ray trial id, unique id prefix, or Optuna trial number."""
    exact = [r for r in records if r.trial_id == key]
    if exact:
        return exact[0]
    if key.isdigit():
        numbered = [r for r in records if r.number == int(key)]
        if numbered:
            return numbered[0]
    prefixed = [r for r in records if r.trial_id.startswith(key)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise ConfigError(f"trial: {key!r} matches several trials "
                          f"({', '.join(r.trial_id for r in prefixed)})")
    raise ConfigError(f"trial: no finished trial {key!r} in this sweep")


def export_trial(outcome: SweepOutcome, key: str, output: Path | None = None) -> Path:
    """Copy a trial's final checkpoint and write its config: loadable with ``load_model``."""
    import yaml

    from demp.train.checkpoint import CHECKPOINT_FILE, load_model

    record = find_record(outcome.records, key)
    if record.status == "failed" or not record.checkpoint:
        raise ConfigError(f"trial: {record.trial_id} has no usable checkpoint "
                          f"({record.status}{': ' + record.reason if record.reason else ''})")
    source = Path(record.checkpoint)
    if not (source / CHECKPOINT_FILE).is_file():
        raise ConfigError(f"trial: checkpoint of {record.trial_id} is missing at {source}")
    target = output or outcome.paths.export_dir(record.trial_id)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / CHECKPOINT_FILE, target / CHECKPOINT_FILE)
    _, cfg = load_model(target)  # proves it loads; the config is the trial's own
    (target / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"),
                                                       sort_keys=False))
    (target / "trial.json").write_text(json.dumps(
        {"trial_id": record.trial_id, "optuna_trial": record.number, "status": record.status,
         "on_frontier": outcome.frontier.on_frontier(record.trial_id), "params": record.params,
         "metrics": record.metrics, "sweep": str(outcome.paths.root)}, indent=2, default=str))
    return target


def cmd_export(args: argparse.Namespace) -> int:
    target = export_trial(load_sweep(args.directory), args.trial, args.output)
    console.print(f"exported to {target}", highlight=False)
    console.print("  load:      from demp.train.checkpoint import load_model; "
                  f"model, cfg = load_model('{target}')", highlight=False)
    console.print(f"  fine-tune: demp train {target / 'config.yaml'} --resume {target} "
                  f"--set epochs=N  (continues from the trial's last step with its optimizer "
                  f"state; any --set applies)", highlight=False)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from demp.track.report import write_report

    target = write_report(args.directory, args.output)
    console.print(f"report: {target} (self-contained; PNGs beside it in {target.parent})",
                  highlight=False)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from demp.sweep.dashboard import is_loopback, make_dashboard_server, url_of

    server, study, storage = make_dashboard_server(args.directory, args.host, args.port)
    if not is_loopback(args.host):
        err_console.print(f"[yellow]warning:[/yellow] optuna-dashboard has no authentication and "
                          f"can edit the study; it is listening on {args.host}, reachable from "
                          f"other machines", highlight=False)
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
    from demp.sweep.spec import load_spec, spec_warnings

    spec = load_spec(args.spec, args.overrides)
    for w in spec_warnings(spec):
        err_console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
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


# ------------------------------------------------------------------------------ output


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def frontier_table(frontier: Frontier, limit: int = 30) -> Table:
    params: list[str] = []
    for r in frontier.members:
        params += [p for p in r.params if p not in params]
    ref = ", ".join(f"{m}={v:g}" for m, v in zip(frontier.metrics, frontier.reference))
    table = Table(title=f"Pareto frontier — {len(frontier.members)} of {len(frontier.complete)} "
                  f"complete trials · hypervolume {frontier.hypervolume:.4f} (reference {ref})",
                  title_justify="left")
    table.add_column("trial")
    table.add_column("#", justify="right")
    for m, d in zip(frontier.metrics, frontier.directions):
        table.add_column(f"{m} {'↑' if d == 'maximize' else '↓'}", justify="right")
    for p in params:
        table.add_column(PARAM_LABELS.get(p, ".".join(p.split(".")[-2:])), justify="right")
    for r in frontier.members[:limit]:
        table.add_row(r.trial_id, _fmt(r.number),
                      *[_fmt(v) for v in r.objective_values(frontier.metrics)],
                      *[_fmt(r.params.get(p)) for p in params])
    return table


def print_frontier(frontier: Frontier) -> None:
    if not frontier.complete:
        console.print("frontier: no complete trials yet")
        return
    console.print(frontier_table(frontier))


def print_target(outcome: SweepOutcome) -> None:
    """Target-sparsity sweeps: the target, how many complete trials met it, and each that did
    not (kept in the study and trials.jsonl, left off the result)."""
    spec = outcome.spec
    target = spec.base.demp.target
    if target is None:
        return
    done = [r for r in outcome.records if r.status == "complete"]
    missed = [r for r in done if r.feasible is False]
    console.print(f"target: {target.metric} = {target.value:g} ± {spec.resolved_tolerance:g} — "
                  f"{len(done) - len(missed)} feasible, {len(missed)} infeasible",
                  highlight=False)
    for r in missed:
        value = r.metrics.get(target.metric)
        shown = f"{value:.4f}" if isinstance(value, float) and target.metric != "flops" \
            else _fmt(value)
        console.print(f"[yellow]infeasible[/yellow] {r.trial_id}: {target.metric} = {shown}",
                      highlight=False)


def print_outcome(outcome: SweepOutcome, seconds: float) -> None:
    c = outcome.counts
    console.print(f"[bold]{outcome.spec.name}[/bold]: {sum(c.values())} trials in {seconds:.0f} s "
                  f"— {c['complete']} complete, {c['truncated']} truncated, {c['failed']} failed",
                  highlight=False)
    print_target(outcome)
    print_frontier(outcome.frontier)
    p = outcome.paths
    console.print(f"files: {p.frontier_csv}, {p.frontier_json}, {p.frontier_png}",
                  highlight=False)
    offline = sorted(p.wandb.glob("offline-run-*")) if p.wandb.is_dir() else []
    if offline:
        console.print(f"W&B: {len(offline)} offline run directories in {p.wandb} — upload with "
                      f"`wandb sync {p.wandb}/offline-run-*`", highlight=False)
    if sum(c.values()) < outcome.spec.trials:
        console.print(f"stopped before the planned {outcome.spec.trials} trials; continue with "
                      f"`demp sweep resume {p.root}`", highlight=False)


# ------------------------------------------------------------------------------ progress


def _line(rec: TrialRecord, monitor: Any) -> str:
    n = len(monitor.records)
    metrics = "  ".join(f"{m}={_fmt(rec.metrics.get(m))}" for m in monitor.spec.metrics)
    tail = f"  ({rec.reason})" if rec.reason else ""
    if rec.feasible is False:
        tail += "  (infeasible: misses the sparsity target)"
    return (f"[{n:>3}/{monitor.spec.trials}] {rec.trial_id} {rec.status:<9} {metrics}  "
            f"HV={monitor.frontier.hypervolume:.4f}{tail}")


class LineDisplay:
    """One line per finished trial: for logs and pipes."""

    def __init__(self, out: Console) -> None:
        self.out = out

    def start(self, monitor: Any) -> None:
        self.out.print(f"sweep {monitor.spec.name}: {monitor.spec.trials} trials, "
                       f"{monitor.spec.max_concurrent} at a time → {monitor.paths.root}",
                       highlight=False)

    def finished(self, rec: TrialRecord, monitor: Any) -> None:
        self.out.print(_line(rec, monitor), highlight=False)

    def note(self, text: str) -> None:
        self.out.print(text, highlight=False)

    def update(self, trials: list[Any], monitor: Any) -> None:
        pass

    def stop(self) -> None:
        pass


class LiveDisplay(LineDisplay):
    """A live table of running trials above the finished-trial lines (terminals only)."""

    def __init__(self, out: Console) -> None:
        super().__init__(out)
        self.live: Live | None = None
        self.last = 0.0

    def start(self, monitor: Any) -> None:
        super().start(monitor)
        self.live = Live(self._render([], monitor), console=self.out, refresh_per_second=4,
                         transient=True)
        self.live.start()

    def finished(self, rec: TrialRecord, monitor: Any) -> None:
        if self.live is not None:
            self.live.console.print(_line(rec, monitor), highlight=False)

    def note(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, highlight=False)
        else:
            super().note(text)

    def update(self, trials: list[Any], monitor: Any) -> None:
        now = time.monotonic()
        if self.live is None or now - self.last < 0.25:
            return
        self.last = now
        self.live.update(self._render(trials, monitor))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    @staticmethod
    def _render(trials: list[Any], monitor: Any) -> Group:
        c = counts(monitor.records)
        active = [t for t in trials if t.status in ("RUNNING", "PENDING")]
        head = (f"{monitor.spec.name}: {sum(c.values())}/{monitor.spec.trials} finished · "
                f"{sum(t.status == 'RUNNING' for t in active)} running · {c['complete']} complete "
                f"· {c['truncated']} truncated · {c['failed']} failed · frontier "
                f"{len(monitor.frontier.members)} · hypervolume "
                f"{monitor.frontier.hypervolume:.4f}")
        table = Table(show_edge=False, pad_edge=False)
        for col in ("trial", "status", "progress", *monitor.spec.metrics, "λ", "σ"):
            table.add_column(col, justify="right" if col not in ("trial", "status") else "left")
        for t in active[:12]:
            r = t.last_result or {}
            table.add_row(t.trial_id, t.status.lower(), f"{100 * r.get('progress', 0):.0f}%",
                          *[_fmt(r.get(m)) for m in monitor.spec.metrics],
                          _fmt(r.get("lam")), _fmt(r.get("sigma")))
        return Group(head, table)


if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]] if sys.argv[1:2] != ["sweep"] else sys.argv[1:]))

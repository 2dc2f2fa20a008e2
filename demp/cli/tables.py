"""What the CLI prints about a sweep: the frontier table, target feasibility, an outcome summary,
and the comparison table of several sweeps (rich tables on stdout).
"""

from __future__ import annotations

import json

from rich import box
from rich.table import Table

from demp.cli.console import console, err_console
from demp.results.compare import Comparison, reference_text
from demp.results.compare_stats import ComparisonUncertainty
from demp.results.frontier import Frontier
from demp.results.collapse import accuracy_metric, chance_accuracy, is_collapsed
from demp.results.outcome import SweepOutcome
from demp.results.records import TrialRecord
from demp.spec.schema import SweepSpec
from demp.results.values import fmt

# Column labels for the usual parameters; other paths show their last two segments.
PARAM_LABELS = {
    "demp.regularizer.peak": "λ", "demp.noise.peak": "σ", "demp.schedule.shape": "shape",
    "demp.schedule.pct_start": "pct_start", "demp.schedule.span_fraction": "span",
    "demp.death.prune_interval": "prune every", "optimizer.lr": "lr",
    "baseline.density": "ρ", "baseline.slimming.lam": "λ (slimming)",
    "baseline.slimming.threshold": "|γ| threshold",
}


def param_label(path: str) -> str:
    """The column label of a searched parameter (its dotted path in the spec's space)."""
    return PARAM_LABELS.get(path, ".".join(path.split(".")[-2:]))


def status_text(record: TrialRecord, spec: SweepSpec) -> tuple[str, str]:
    """A record's status as shown, and a note: a complete trial below chance accuracy is
    ``collapsed`` (``demp.results.collapse``), not a plain ``complete``."""
    metric = accuracy_metric(spec.metrics, spec.directions)
    chance = chance_accuracy(spec)
    if metric is not None and is_collapsed(record, chance, metric):
        return "collapsed", f"below chance accuracy {chance:.3g}"
    return record.status, ""


def frontier_tables(frontier: Frontier, width: int | None = None, limit: int = 30) -> list[Table]:
    """The frontier as tables that fit ``width`` columns without cutting a number: the trial,
    its objectives and as many parameters as fit in the first, the remaining parameters in
    further tables keyed by trial (``None``: one table, however wide)."""
    params: list[str] = []
    for r in frontier.members:
        params += [p for p in r.params if p not in params]
    members = frontier.members[:limit]
    head = [("trial", [r.trial_id for r in members]), ("#", [fmt(r.number) for r in members])]
    head += [(f"{m} {'↑' if d == 'maximize' else '↓'}", [fmt(r.objective_values([m])[0])
                                                        for r in members])
             for m, d in zip(frontier.metrics, frontier.directions)]
    rest = [(param_label(p), [fmt(r.params.get(p)) for r in members]) for p in params]

    def need(cols: list[tuple[str, list[str]]]) -> int:
        return sum(max([len(h), *map(len, v)]) + 3 for h, v in cols)  # padding, separator

    groups, current = [], list(head)
    for col in rest:
        if width is not None and len(current) > 1 and need(current + [col]) > width:
            groups.append(current)
            current = [head[0]]
        current.append(col)
    groups.append(current)
    ref = ", ".join(f"{m}={v:g}" for m, v in zip(frontier.metrics, frontier.reference))
    tables = []
    for i, cols in enumerate(groups):
        title = (f"Pareto frontier — {len(frontier.members)} of {len(frontier.complete)} "
                 f"complete trials · hypervolume {frontier.hypervolume:.4f} (reference {ref})"
                 if i == 0 else "frontier parameters (continued)")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for j, (h, _) in enumerate(cols):
            table.add_column(h, justify="left" if j == 0 else "right", no_wrap=True)
        for k in range(len(members)):
            table.add_row(*[v[k] for _, v in cols])
        tables.append(table)
    return tables


def frontier_table(frontier: Frontier, limit: int = 30) -> Table:
    """The frontier in one table (for wide consoles and files)."""
    return frontier_tables(frontier, None, limit)[0]


def print_frontier(frontier: Frontier) -> None:
    if not frontier.complete:
        console.print("frontier: no complete trials yet")
        return
    for table in frontier_tables(frontier, console.width):
        console.print(table)


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
            else fmt(value)
        console.print(f"[yellow]infeasible[/yellow] {r.trial_id}: {target.metric} = {shown}",
                      highlight=False)


def print_outcome(outcome: SweepOutcome, seconds: float) -> None:
    c = outcome.counts
    console.print(f"[bold]{outcome.spec.name}[/bold]: {sum(c.values())} trials in {seconds:.0f} s "
                  f"— {c['complete']} complete, {c['truncated']} truncated, {c['failed']} failed",
                  highlight=False)
    print_target(outcome)
    print_frontier(outcome.frontier)
    print_replicated(outcome)
    p = outcome.paths
    if outcome.frontier.complete:  # with none, the files hold only headers
        console.print(f"files: {p.frontier_csv}, {p.frontier_json}, {p.frontier_png}",
                      highlight=False)
    offline = sorted(p.wandb.glob("offline-run-*")) if p.wandb.is_dir() else []
    if offline:
        console.print(f"W&B: {len(offline)} offline run directories in {p.wandb} — upload with "
                      f"`wandb sync {p.wandb}/offline-run-*`", highlight=False)
    if sum(c.values()) < outcome.spec.trials:
        console.print(f"stopped before the planned {outcome.spec.trials} trials; continue with "
                      f"`demp sweep resume {p.root}`", highlight=False)


def uncertainty_table(u: ComparisonUncertainty) -> Table:
    """Each sweep's hypervolume of means with its bootstrap interval over seeds, and the
    probability that it exceeds each other sweep's."""
    table = Table(title="hypervolume over seeds (configurations at their means; 95 % bootstrap "
                  "interval) · P(row > column)", title_justify="left")
    table.add_column("sweep", no_wrap=True)
    for col in ("seeds", "HV of means", "95 % interval", *[s.label for s in u.sweeps]):
        table.add_column(col, justify="right")
    for i, s in enumerate(u.sweeps):
        seeds = f"{s.seeds}" if s.seeds > 1 else "1 (no interval)"
        table.add_row(s.label, seeds, f"{s.hypervolume:.4f}",
                      f"{s.interval[0]:.4f}–{s.interval[1]:.4f}",
                      *["" if j == i else f"{p:.2f}" for j, p in enumerate(u.greater[i])])
    return table


def best_at_table(u: ComparisonUncertainty) -> Table:
    """Best mean accuracy at each sparsity level, per sweep, with its interval over seeds."""
    table = Table(title="best accuracy at sparsity ≥ level (mean over seeds [95 % interval])",
                  title_justify="left")
    table.add_column("sweep", no_wrap=True)
    for level in u.levels:
        table.add_column(f"≥ {level:g}", justify="right")
    for s in u.sweeps:
        cells = []
        for b in s.best:
            if b.group is None:
                cells.append("none")
            elif b.seeds > 1:
                cells.append(f"{b.mean:.4f} [{b.interval[0]:.4f}, {b.interval[1]:.4f}]")
            else:
                cells.append(f"{b.mean:.4f} (1 seed)")
        table.add_row(s.label, *cells)
    return table


def print_replicated(outcome: SweepOutcome) -> None:
    """The frontier of means over seeds (frontier_replicates.json), when replicates exist."""
    path = outcome.paths.root / "frontier_replicates.json"
    if not outcome.replicates or not path.is_file():
        return
    doc = json.loads(path.read_text())
    metrics = [o["metric"] for o in doc["objectives"]]
    ci = doc["hypervolume_interval"]
    table = Table(title=f"frontier of means over seeds — {doc['frontier_size']} of "
                  f"{doc['configurations']} configurations · HV {doc['hypervolume_of_means']:.4f}"
                  f" (95 % {ci[0]:.4f}–{ci[1]:.4f})", title_justify="left")
    for col in ("config", "seeds", *[f"{m} mean ± sd [95 %]" for m in metrics], "note"):
        table.add_column(col, justify="left" if col in ("config", "note") else "right")
    for r in doc["rows"]:
        if not (r["on_frontier"] or r["not_separable"]):
            continue
        cells = []
        for m in metrics:
            sd = r[f"{m}_sd"]
            cells.append(f"{r[f'{m}_mean']:.4f} ± {sd:.4f} [{r[f'{m}_ci_low']:.4f}, "
                         f"{r[f'{m}_ci_high']:.4f}]" if sd is not None
                         else f"{r[f'{m}_mean']:.4f}")
        table.add_row(r["group"], str(r["seeds"]), *cells,
                      "frontier" if r["on_frontier"] else "not separable")
    console.print(table)
    if doc["not_replicated"]:
        console.print(f"{doc['not_replicated']} configuration(s) with one seed are left out of "
                      f"the frontier of means (not replicated)", highlight=False)
    console.print(f"files: {path.with_suffix('.csv')}, {path}, {path.with_suffix('.png')}",
                  highlight=False)


def print_interrupted(outcome: SweepOutcome) -> None:
    """The one line an interrupted driver ends with (stderr): what was kept, how to go on."""
    c, p = outcome.counts, outcome.paths
    kept = (f"{outcome.finished} of {outcome.spec.trials} trials finished ({c['complete']} "
            f"complete, {c['truncated']} truncated, {c['failed']} failed) are kept in "
            f"{p.trials}" if outcome.finished else "no trial had finished")
    err_console.print(f"[yellow]interrupted[/yellow] ({outcome.stopped_by}): {kept}; running "
                      f"trials continue from their last checkpoint with `demp sweep resume "
                      f"{p.root}`", highlight=False, soft_wrap=True)


def comparison_table(c: Comparison) -> Table:
    """One row per sweep: method, trials, frontier size, hypervolume and its ratio to the first
    sweep's, and how many of its points are on the union frontier."""
    base = c.entries[0].frontier.hypervolume
    equal = (f" · each after its first {c.equal_trials} finished trials"
             if c.equal_trials is not None else "")
    table = Table(title=f"frontiers under one reference ({reference_text(c)}){equal} · HV ratio "
                  f"to {c.entries[0].label} · union hypervolume {c.union_hypervolume:.4f} "
                  f"({len(c.union.members)} points)", title_justify="left")
    table.add_column("sweep", no_wrap=True)
    table.add_column("method")
    for col in ("trials", "frontier", "HV", "HV ratio", "on union",
                *[f"best {m}" for m in c.metrics]):
        table.add_column(col, justify="right")
    for e in c.entries:
        hv = e.frontier.hypervolume
        best = []
        for i, d in enumerate(c.directions):
            vals = [r.objective_values(c.metrics)[i] for r in e.frontier.complete]
            best.append(fmt((max if d == "maximize" else min)(vals)) if vals else "")
        table.add_row(e.label, e.method,
                      f"{sum(r.status == 'complete' for r in e.counted)}/{e.outcome.spec.trials}",
                      str(len(e.frontier.members)), f"{hv:.4f}",
                      f"{hv / base:.3f}" if base > 0 else "", f"{e.on_union}", *best)
    return table


__all__ = [
    "PARAM_LABELS", "best_at_table", "comparison_table", "frontier_table", "param_label",
    "print_frontier", "print_interrupted", "print_outcome", "print_replicated", "print_target",
    "status_text", "uncertainty_table"
]

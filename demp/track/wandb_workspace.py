"""The team's W&B workspace and report as code (wandb-workspaces), built from one layout.

``DASHBOARD`` is the layout as plain data: sections of panels that name the W&B keys they plot,
every key taken from the constants of ``demp.track.keys`` (what the callbacks log), so the
dashboards cannot drift from the logging. ``build_workspace`` turns it into a
``wandb_workspaces.workspaces.Workspace``, ``build_report`` into a
``wandb_workspaces.reports.v2.Report``. Building needs no network; ``publish`` saves both and is
the only function that talks to W&B (``demp dashboard publish --entity E --project P``, in
``demp.cli.workspace``).

Sections: the Pareto frontier, hypervolume progress, dead-neuron dynamics per layer, the
schedules (λ_t, σ_t), speed (step time against FLOPs), and accuracy / loss.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from demp.track import keys

PanelKind = Literal["line", "scatter", "media", "table", "scalar"]
Source = Literal["trial", "sweep"]


@dataclass(frozen=True)
class PanelSpec:
    """One panel. ``x`` / ``y`` are W&B keys; ``y_regex`` plots every key it matches.

    ``scatter`` panels plot one point per run from run summaries (x, y[0]); ``line`` panels plot
    history against ``x``; ``media`` shows the images logged under ``y``; ``table`` the table
    logged under ``y[0]``; ``scalar`` the latest value of ``y[0]``. ``source`` says which runs
    log the keys (trial runs or the sweep's run).
    """

    kind: PanelKind
    title: str
    y: tuple[str, ...] = ()
    x: str | None = None
    y_regex: str | None = None
    log_y: bool = False
    source: Source = "trial"
    stacked: bool = False

    def keys(self) -> list[str]:
        """The W&B keys this panel reads (regex panels: their prefix)."""
        out = ([self.x] if self.x else []) + list(self.y)
        if self.y_regex:
            out.append(self.regex_prefix)
        return out

    @property
    def regex_prefix(self) -> str:
        """``^dead_fraction/.*`` → ``dead_fraction/`` (the per-layer keys it selects)."""
        return (self.y_regex or "").removeprefix("^").removesuffix(".*")


@dataclass(frozen=True)
class SectionSpec:
    name: str
    description: str
    panels: tuple[PanelSpec, ...] = field(default_factory=tuple)


def _per_layer(prefix: str) -> str:
    return f"^{prefix}/.*"


SECTION_FRONTIER = "Pareto frontier"
SECTION_HYPERVOLUME = "Hypervolume progress"
SECTION_DEAD = "Dead-neuron dynamics per layer"
SECTION_SCHEDULES = "Schedules (λ_t, σ_t)"
SECTION_SPEED = "Speed (step time vs FLOPs)"
SECTION_ACCURACY = "Accuracy and loss"

DASHBOARD: tuple[SectionSpec, ...] = (
    SectionSpec(
        SECTION_FRONTIER,
        "Each trial's final accuracy against its sparsity (one point per trial run), the current "
        "frontier table and the frontier plot of the sweep run (frontier in red).",
        (
            PanelSpec("scatter", "val accuracy vs parameter sparsity (trials)",
                      x="param_sparsity", y=("val_acc",)),
            PanelSpec("scatter", "val accuracy vs neural sparsity (trials)",
                      x="neural_sparsity", y=("val_acc",)),
            PanelSpec("scatter", "test accuracy vs parameter sparsity (trials)",
                      x="param_sparsity", y=("test_acc",)),
            PanelSpec("media", "frontier plot", y=(keys.FRONTIER_PLOT,), source="sweep"),
            PanelSpec("table", "frontier", y=(keys.FRONTIER_TABLE,), source="sweep"),
            PanelSpec("table", "all finished trials", y=(keys.TRIALS_TABLE,), source="sweep"),
        ),
    ),
    SectionSpec(
        SECTION_HYPERVOLUME,
        "Hypervolume of the frontier after each finished trial (flat = the sweep has stopped "
        "improving), frontier size and trials by status.",
        (
            PanelSpec("line", "hypervolume", x=keys.SWEEP_STEP_KEY, y=(keys.HYPERVOLUME,),
                      source="sweep"),
            PanelSpec("line", "frontier size", x=keys.SWEEP_STEP_KEY, y=(keys.FRONTIER_SIZE,),
                      source="sweep"),
            PanelSpec("line", "trials by status", x=keys.SWEEP_STEP_KEY,
                      y=tuple(keys.count_key(s) for s in ("complete", "truncated", "failed")),
                      source="sweep", stacked=True),
            PanelSpec("scalar", "current hypervolume", y=(keys.HYPERVOLUME,), source="sweep"),
        ),
    ),
    SectionSpec(
        SECTION_DEAD,
        "Per layer: the fraction of units that are dead and the live units left, at each "
        "evaluation; units found dead / removed at each death check; the layer × step heat map "
        "and table logged at the end of each trial.",
        (
            PanelSpec("line", "dead fraction per layer", x=keys.STEP_KEY,
                      y_regex=_per_layer(keys.DEAD_FRACTION)),
            PanelSpec("line", "live units per layer", x=keys.STEP_KEY,
                      y_regex=_per_layer(keys.LIVE_UNITS)),
            PanelSpec("line", "neural and parameter sparsity", x=keys.STEP_KEY,
                      y=keys.SPARSITY_METRICS),
            PanelSpec("line", "units removed per death check", x=keys.STEP_KEY,
                      y=(keys.PRUNE_REMOVED_TOTAL, keys.PRUNE_DEAD_TOTAL)),
            PanelSpec("line", "units removed per layer", x=keys.STEP_KEY,
                      y_regex=_per_layer(keys.PRUNE_REMOVED)),
            PanelSpec("media", "live units heat map", y=(keys.LIVE_UNITS_HEATMAP,)),
            PanelSpec("table", "live units per layer × step", y=(keys.LIVE_UNITS_TABLE,)),
        ),
    ),
    SectionSpec(
        SECTION_SCHEDULES,
        "The regularization strength λ_t and noise level σ_t as the trainer applied them, the "
        "learning rate, and the regularizer's value R.",
        (
            PanelSpec("line", "λ_t (regularization)", x=keys.STEP_KEY, y=("lam",), log_y=True),
            PanelSpec("line", "σ_t (noise std)", x=keys.STEP_KEY, y=("sigma",), log_y=True),
            PanelSpec("line", "learning rate", x=keys.STEP_KEY, y=("lr",)),
            PanelSpec("line", "regularizer R", x=keys.STEP_KEY, y=("regularizer",), log_y=True),
        ),
    ),
    SectionSpec(
        SECTION_SPEED,
        "What pruning buys: step time against inference FLOPs (within a trial as units are "
        "removed, and across trials at the end), and both over training.",
        (
            PanelSpec("line", "step time vs FLOPs (per trial)", x="flops", y=("step_time",)),
            PanelSpec("scatter", "final step time vs FLOPs (trials)", x="flops",
                      y=("step_time",)),
            PanelSpec("line", "step time", x=keys.STEP_KEY, y=("step_time",)),
            PanelSpec("line", "inference FLOPs / sample", x=keys.STEP_KEY, y=("flops",)),
            PanelSpec("line", "training FLOPs (cumulative)", x=keys.STEP_KEY, y=("train_flops",)),
            PanelSpec("line", "death check time", x=keys.STEP_KEY,
                      y=(keys.PRUNE_DETECT_TIME, keys.PRUNE_SURGERY_TIME)),
        ),
    ),
    SectionSpec(
        SECTION_ACCURACY,
        "Validation (the search metric) and test accuracy and the losses.",
        (
            PanelSpec("line", "accuracy", x=keys.STEP_KEY, y=keys.ACCURACY_METRICS),
            PanelSpec("line", "loss", x=keys.STEP_KEY, y=keys.LOSS_METRICS),
        ),
    ),
)

# Columns pinned in the workspace's run table.
PINNED_SUMMARY = ("val_acc", "test_acc", "param_sparsity", "neural_sparsity", "flops")
PINNED_CONFIG = ("demp.regularizer.peak", "demp.noise.peak", "demp.schedule.shape",
                 "demp.death.prune_interval")


def dashboard_layout() -> list[dict[str, Any]]:
    """``DASHBOARD`` as plain dicts (what ``dashboards/layout.yaml`` holds)."""
    out = []
    for s in DASHBOARD:
        panels = []
        for p in s.panels:
            d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(p).items()}
            panels.append({k: v for k, v in d.items() if v not in (None, False, [])})
        out.append({"name": s.name, "description": s.description, "panels": panels})
    return out


def referenced_keys() -> set[str]:
    """Every W&B key (or per-layer prefix ending in ``/``) the dashboards read."""
    return {k for s in DASHBOARD for p in s.panels for k in p.keys()}


# ------------------------------------------------------------------------------ building


def _panel(p: PanelSpec) -> Any:
    import wandb_workspaces.reports.v2 as wr

    if p.kind == "line":
        return wr.LinePlot(title=p.title, x=p.x or keys.STEP_KEY, y=list(p.y),
                           metric_regex=p.y_regex, log_y=p.log_y or None,
                           plot_type="stacked-area" if p.stacked else None)
    if p.kind == "scatter":
        return wr.ScatterPlot(title=p.title, x=wr.SummaryMetric(p.x), y=wr.SummaryMetric(p.y[0]))
    if p.kind == "media":
        return wr.MediaBrowser(title=p.title, media_keys=list(p.y), num_columns=1)
    if p.kind == "table":
        return wr.WeavePanelSummaryTable(table_name=p.y[0], layout=wr.Layout(w=12, h=8))
    if p.kind == "scalar":
        return wr.ScalarChart(title=p.title, metric=p.y[0])
    raise ValueError(f"unknown panel kind {p.kind!r}")


def build_panels(section: SectionSpec) -> list[Any]:
    return [_panel(p) for p in section.panels]


def _group_filter(sweep: str | None) -> Any:
    """Runs of one sweep: trial runs and the sweep's own run share its name as W&B group."""
    import wandb_workspaces.workspaces as ws

    return ws.And(ws.Metric("Group") == sweep) if sweep else ""


def build_workspace(entity: str, project: str, sweep: str | None = None,
                    name: str | None = None) -> Any:
    """The saved view: one section per ``DASHBOARD`` entry, runs of ``sweep`` (or all)."""
    import wandb_workspaces.workspaces as ws

    pinned = ([f"summary:{k}" for k in PINNED_SUMMARY]
              + [f"config:{k}.value" for k in PINNED_CONFIG])
    return ws.Workspace(
        entity=entity, project=project,
        name=name or (f"DemP sweep {sweep}" if sweep else "DemP sweeps"),
        sections=[ws.Section(name=s.name, panels=build_panels(s), is_open=True)
                  for s in DASHBOARD],
        settings=ws.WorkspaceSettings(x_axis=keys.STEP_KEY, max_runs=50),
        runset_settings=ws.RunsetSettings(filters=_group_filter(sweep), pinned_columns=pinned),
    )


def build_report(entity: str, project: str, sweep: str | None = None,
                 title: str | None = None) -> Any:
    """The report: a heading and description per section, each with its panel grid."""
    import wandb_workspaces.reports.v2 as wr

    filters = _group_filter(sweep)
    what = f"sweep `{sweep}`" if sweep else "the DemP sweeps of this project"
    blocks: list[Any] = [
        wr.P(f"Accuracy–sparsity frontier and dead-neuron dynamics of {what}. Trial runs are "
             f"job_type '{keys.JOB_TRIAL}' (grouped by sweep); the sweep's own run is job_type "
             f"'{keys.JOB_SWEEP}'."),
        wr.TableOfContents(),
    ]
    for s in DASHBOARD:
        blocks += [
            wr.H2(s.name),
            wr.P(s.description),
            wr.PanelGrid(
                runsets=[wr.Runset(entity=entity, project=project,
                                   name=sweep or "all runs", filters=filters)],
                panels=build_panels(s),
            ),
        ]
    return wr.Report(entity=entity, project=project,
                     title=title or (f"DemP: {sweep}" if sweep else "DemP sweeps"),
                     description="Pareto frontier, hypervolume, dead neurons per layer, "
                                 "schedules and speed.",
                     blocks=blocks)


def publish(entity: str, project: str, sweep: str | None = None, *, workspace: bool = True,
            report: bool = True) -> dict[str, str]:
    """Save the workspace and / or the report to W&B; returns their URLs.

    Needs network and W&B credentials (``WANDB_API_KEY`` or ``wandb login``); never called in
    tests.
    """
    urls: dict[str, str] = {}
    if workspace:
        w = build_workspace(entity, project, sweep).save()
        urls["workspace"] = str(w.url)
    if report:
        r = build_report(entity, project, sweep)
        r.save()
        urls["report"] = str(r.url)
    return urls


def layout_yaml() -> str:
    import yaml

    header = ("# Generated from demp/track/wandb_workspace.py (DASHBOARD); do not edit.\n"
              "# Regenerate: python dashboards/publish.py layout > dashboards/layout.yaml\n")
    return header + yaml.safe_dump({"sections": dashboard_layout()}, sort_keys=False,
                                   allow_unicode=True, width=100)

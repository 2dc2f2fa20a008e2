"""The W&B keys demp logs, and the rows built from the trainer's records.

One place for every key, so the callbacks (``demp.track.trial_run``, ``demp.track.sweep_run``),
the dashboards (``demp.track.wandb_workspace``) and the readers (tests, the offline report)
cannot drift apart. The row builders are pure functions of the trainer's plain-dict records:
they need neither ``wandb`` nor a run, which is also what lets the dashboards be checked against
them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# ------------------------------------------------------------------------------ trial runs
# Trial runs (job_type "trial"). Every history row carries STEP_KEY (also W&B's ``_step``);
# define_metric makes it the x-axis of every chart, so charts read in training steps.
STEP_KEY = "trainer/step"
# Scalars of the trainer's metrics record logged at each evaluation, under their own names.
EVAL_METRICS: tuple[str, ...] = (
    "epoch", "progress", "val_acc", "val_loss", "test_acc", "test_loss", "train_loss",
    "lam", "sigma", "lr", "regularizer", "neural_sparsity", "param_sparsity", "params",
    "flops", "train_flops", "step_time", "train_time",
)
ACCURACY_METRICS = ("val_acc", "test_acc")
LOSS_METRICS = ("val_loss", "test_loss", "train_loss")
SCHEDULE_METRICS = ("lam", "sigma", "lr", "regularizer")
SPARSITY_METRICS = ("neural_sparsity", "param_sparsity")
SPEED_METRICS = ("step_time", "flops", "train_flops", "train_time")
# Per unit group, at each evaluation: ``live_units/<group>``, ``dead_fraction/<group>``.
LIVE_UNITS = "live_units"
DEAD_FRACTION = "dead_fraction"
# At each death check: ``prune/removed/<group>``, ``prune/dead/<group>`` and the totals.
PRUNE_REMOVED = "prune/removed"
PRUNE_DEAD = "prune/dead"
PRUNE_REMOVED_TOTAL = "prune/removed_total"
PRUNE_DEAD_TOTAL = "prune/dead_total"
PRUNE_DETECT_TIME = "prune/detect_time"
PRUNE_SURGERY_TIME = "prune/surgery_time"
# Logged once, at the end of a trial.
LIVE_UNITS_TABLE = "live_units_table"      # columns: step, <group>... (live units)
LIVE_UNITS_HEATMAP = "live_units_heatmap"  # image: group × step, colour = live fraction
PRUNE_EVENTS_TABLE = "prune_events"        # columns: step, group, dead, removed, live_units
TRIAL_END_KEYS = (LIVE_UNITS_TABLE, LIVE_UNITS_HEATMAP, PRUNE_EVENTS_TABLE)
# Summary-only keys of a trial run (besides the final values of everything above).
SUMMARY_STOPPED_EARLY = "stopped_early"
SUMMARY_TOTAL_STEPS = "total_steps"
SUMMARY_RESUMED_FROM = "resumed_from_step"
SUMMARY_STOPPED_BY = "stopped_by"          # "scheduler" when Ray Tune stopped the trial

# ------------------------------------------------------------------------------ the sweep run
SWEEP_STEP_KEY = "sweep/finished_trials"
HYPERVOLUME = "sweep/hypervolume"
FRONTIER_SIZE = "sweep/frontier_size"
TRIAL_COUNTS = "sweep/trials"              # sweep/trials/<status>, sweep/trials/total
FRONTIER_TABLE = "frontier"
TRIALS_TABLE = "trials"
FRONTIER_PLOT = "frontier_plot"
SWEEP_MEDIA_KEYS = (FRONTIER_TABLE, TRIALS_TABLE, FRONTIER_PLOT)

JOB_TRIAL = "trial"
JOB_SWEEP = "sweep"
DEFAULT_PROJECT = "demp"


def layer_key(prefix: str, group: str) -> str:
    """The W&B key of a per-layer value, e.g. ``layer_key(DEAD_FRACTION, "fc1")``."""
    return f"{prefix}/{group}"


def count_key(status: str) -> str:
    return f"{TRIAL_COUNTS}/{status}"


# ------------------------------------------------------------------------------ row builders


def eval_row(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The history row logged for one evaluation record of the trainer."""
    row: dict[str, Any] = {STEP_KEY: int(metrics["step"])}
    for k in EVAL_METRICS:
        if k in metrics and metrics[k] is not None:
            row[k] = metrics[k]
    for g, n in (metrics.get("live_units") or {}).items():
        row[layer_key(LIVE_UNITS, g)] = int(n)
    for g, f in (metrics.get("dead_fraction") or {}).items():
        row[layer_key(DEAD_FRACTION, g)] = float(f)
    return row


def prune_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """The history row logged for one death check (every check, removals or not)."""
    row: dict[str, Any] = {STEP_KEY: int(event["step"])}
    removed = {str(g): int(n) for g, n in (event.get("removed") or {}).items()}
    dead = {str(g): int(n) for g, n in (event.get("dead") or {}).items()}
    for g, n in removed.items():
        row[layer_key(PRUNE_REMOVED, g)] = n
    for g, n in dead.items():
        row[layer_key(PRUNE_DEAD, g)] = n
    row[PRUNE_REMOVED_TOTAL] = sum(removed.values())
    row[PRUNE_DEAD_TOTAL] = sum(dead.values())
    if "detect_time" in event:
        row[PRUNE_DETECT_TIME] = float(event["detect_time"])
    if "surgery_time" in event:
        row[PRUNE_SURGERY_TIME] = float(event["surgery_time"])
    return row


def summary_values(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The run summary from the trainer's final record: final metrics, flat per-layer keys."""
    out = eval_row(summary)
    out[SUMMARY_STOPPED_EARLY] = bool(summary.get("stopped_early", False))
    if "total_steps" in summary:
        out[SUMMARY_TOTAL_STEPS] = int(summary["total_steps"])
    return out


def sweep_rows(frontier_size: int, hv_history: Sequence[float], counts: Mapping[str, int],
               already_logged: int = 0) -> list[dict[str, Any]]:
    """The sweep run's scalar history rows for one update (the tables / plot join the last).

    One row per hypervolume point not logged yet (x = finished trials); the frontier size and
    the counts go into the last. With no new point the state is logged at the current x.
    """
    n = len(hv_history)
    rows = [{SWEEP_STEP_KEY: i + 1, HYPERVOLUME: float(hv_history[i])}
            for i in range(min(already_logged, n), n)]
    if not rows:
        rows = [{SWEEP_STEP_KEY: n, **({HYPERVOLUME: float(hv_history[-1])} if n else {})}]
    rows[-1].update({
        FRONTIER_SIZE: int(frontier_size),
        **{count_key(s): int(c) for s, c in counts.items()},
        count_key("total"): int(sum(counts.values())),
    })
    return rows

"""A sweep's results: the trials, the frontier, the hypervolume history, comparisons, exports.

Everything here reads what a sweep wrote (``spec.yaml``, ``trials.jsonl``, each trial's
per-evaluation records); nothing imports Ray or Optuna, so all of it runs next to a live sweep::

    from demp.results import load_sweep, export_trial

    outcome = load_sweep("sweeps_out/digits-quick")
    outcome.records                 # TrialRecord per finished trial, in finish order
    outcome.frontier.members        # the Pareto frontier, best first in the first objective
    outcome.frontier.hypervolume    # and its history: outcome.frontier.history
    export_trial(outcome, "0")      # trial 0's pruned model and config, ready to load

One module per job:

- ``records``   the ledger: ``TrialRecord``, ``TrialLog`` (``trials.jsonl``), ``classify``
- ``frontier``  ``Frontier`` of a set of records, the frontier rows and files
- ``outcome``   ``load_sweep`` (spec + records + frontier of a directory), ``finalize``
- ``collapse``  collapsed trials (complete, below chance accuracy): ``is_collapsed``
- ``scatter``   what the frontier scatter shows, as data: staircase, y range, λ labels
- ``plot``      the one frontier plotter (``frontier.png``, W&B, the report's PNG)
- ``figures``   per-trial figures: dead-neuron heat map, schedules
- ``trial_config``     a trial's trainer config rebuilt from the spec; the dense reference
- ``schedule_curves``  a trial's λ_t, σ_t, lr computed from its config
- ``history``   ``trial_history``: the one read of a trial's per-evaluation records
- ``compare``   several sweeps under one reference point
- ``export``    a trial's model and config out of the sweep directory
- ``report``    the self-contained, interactive HTML report (``svg``, ``svg_axes``,
                ``report_page``: its plots, their axes, its style, script and tables)
- ``values``    ``is_finite`` and ``fmt``, how a reported value is judged and shown

The Pareto math itself (non-dominated sort, crowding, hypervolume) is ``demp.pareto``.
"""

from demp.pareto import crowding_distance, hypervolume, hypervolume_history, non_dominated_sort
from demp.results.collapse import (
    COLLAPSED_NOTE, chance_accuracy, is_collapsed, split_collapsed, sweep_collapsed,
)
from demp.results.compare import (
    CompareEntry, Comparison, budget_warnings, compare_sweeps, comparison_csv, comparison_document,
    default_output, plot_comparison,
)
from demp.results.export import export_trial, find_record
from demp.results.frontier import (
    SUMMARY_METRICS, Frontier, compute_frontier, frontier_document, frontier_rows, trial_rows,
    write_frontier_files,
)
from demp.results.history import TrialHistory, read_trial_history, trial_history
from demp.results.outcome import SweepOutcome, finalize, load_sweep
from demp.results.plot import draw_frontier, frontier_figure, plot_frontier
from demp.results.records import TrialLog, TrialRecord, classify, counts
from demp.results.report import write_report
from demp.results.scatter import FrontierPoints, frontier_points, staircase, sweep_frontier_points
from demp.results.schedule_curves import ScheduleCurves, schedule_curves, trial_schedules
from demp.results.trial_config import dense_record, is_dense, trial_train_config
from demp.results.values import fmt, is_finite

__all__ = [
    "COLLAPSED_NOTE", "CompareEntry", "Comparison", "Frontier", "FrontierPoints",
    "SUMMARY_METRICS", "ScheduleCurves", "SweepOutcome", "TrialHistory", "TrialLog", "TrialRecord",
    "budget_warnings", "chance_accuracy", "classify", "compare_sweeps", "comparison_csv",
    "comparison_document", "compute_frontier", "counts", "crowding_distance", "default_output",
    "dense_record", "draw_frontier", "export_trial", "finalize", "find_record", "fmt",
    "frontier_document", "frontier_figure", "frontier_points", "frontier_rows", "hypervolume",
    "hypervolume_history", "is_collapsed", "is_dense", "is_finite", "load_sweep",
    "non_dominated_sort", "plot_comparison", "plot_frontier", "read_trial_history",
    "schedule_curves", "split_collapsed", "staircase", "sweep_collapsed", "sweep_frontier_points",
    "trial_history", "trial_rows", "trial_schedules", "trial_train_config", "write_frontier_files",
    "write_report"
]

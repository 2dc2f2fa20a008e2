"""A sweep's results: the trials, the frontier, the hypervolume history, comparisons, exports.

Everything here reads what a sweep wrote (``spec.yaml``, ``trials.jsonl``, Ray's per-trial
``result.json``); nothing imports Ray or Optuna, so all of it runs next to a live sweep::

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
- ``plot``      the one frontier plotter (``frontier.png``, W&B, the report)
- ``figures``   per-trial figures: dead-neuron heat map, schedules
- ``compare``   several sweeps under one reference point
- ``export``    a trial's model and config out of the sweep directory
- ``report``    the self-contained HTML report
- ``values``    ``is_finite`` and ``fmt``, how a reported value is judged and shown

The Pareto math itself (non-dominated sort, crowding, hypervolume) is ``demp.pareto``.
"""

from demp.pareto import crowding_distance, hypervolume, hypervolume_history, non_dominated_sort
from demp.results.compare import (
    CompareEntry, Comparison, compare_sweeps, comparison_csv, comparison_document, plot_comparison,
)
from demp.results.export import export_trial, find_record
from demp.results.frontier import (
    SUMMARY_METRICS, Frontier, compute_frontier, frontier_document, frontier_rows, trial_rows,
    write_frontier_files,
)
from demp.results.history import read_trial_history, trial_history
from demp.results.outcome import SweepOutcome, finalize, load_sweep
from demp.results.plot import frontier_figure, plot_frontier
from demp.results.records import TrialLog, TrialRecord, classify, counts
from demp.results.report import read_history, trial_dir, write_report
from demp.results.values import fmt, is_finite

__all__ = [
    "SUMMARY_METRICS", "CompareEntry", "Comparison", "Frontier", "SweepOutcome", "TrialLog",
    "TrialRecord", "classify", "compare_sweeps", "comparison_csv", "comparison_document",
    "compute_frontier", "counts",
    "crowding_distance", "export_trial", "finalize", "find_record", "fmt", "frontier_document",
    "frontier_figure", "frontier_rows", "hypervolume", "hypervolume_history", "is_finite",
    "load_sweep", "non_dominated_sort", "plot_comparison", "plot_frontier", "read_history",
    "read_trial_history", "trial_dir", "trial_history",
    "trial_rows", "write_frontier_files", "write_report",
]

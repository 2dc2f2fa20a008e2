"""Optuna behind Ray Tune: the sampler factory and the searcher adapter.

``make_sampler`` builds the spec's Optuna sampler, always seeded explicitly. ``DempOptunaSearch``
is Ray Tune's ``OptunaSearch`` taught three things: what a trial really became (``classify``:
complete → COMPLETE, truncated → PRUNED, failed → FAIL), the target constraint of a
target-sparsity sweep, and when to stop suggesting (the planned count, ``time_budget_s``). It
keeps the stock adapter's bookkeeping (``_ot_study``, ``_ot_trials``, ``_completed_trials``: the
fields of ``OptunaSearch`` it extends), and learns a failed trial's reason through an injected
function rather than from the driver monitor.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from demp.results.frontier import SUMMARY_METRICS
from demp.results.records import classify
from demp.results.values import is_finite
from demp.spec.layout import trial_dirname
from demp.spec.schema import SweepSpec

logger = logging.getLogger(__name__)

TARGET_CONSTRAINT = "target"  # Optuna constraint key of target-sparsity sweeps


def make_sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    """The spec's sampler, always seeded explicitly."""
    s = spec.sampler
    samplers = optuna.samplers
    if s.name == "tpe":
        return samplers.TPESampler(seed=s.seed, n_startup_trials=_or(s.n_startup_trials, 10))
    if s.name == "nsga2":
        return samplers.NSGAIISampler(seed=s.seed, population_size=_or(s.population_size, 50))
    if s.name == "gp":
        # Conditional parameters fall back to independent sampling by design: no warning each.
        return samplers.GPSampler(seed=s.seed, n_startup_trials=_or(s.n_startup_trials, 10),
                                  warn_independent_sampling=False)
    if s.name == "random":
        return samplers.RandomSampler(seed=s.seed)
    if s.name == "qmc":  # scrambled, or the seed would not change the sequence
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return samplers.QMCSampler(seed=s.seed, scramble=True,
                                       warn_independent_sampling=False)
    return samplers.GridSampler(spec.search_space().grid(), seed=s.seed)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


class DempOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that tells Optuna what a trial really became.

    The stock adapter tells COMPLETE whenever a result exists, which would put trials that
    ASHA stopped, or that diverged, on the frontier. Here the trial's last record decides
    (``results.classify``): complete → COMPLETE with the objective values, truncated → PRUNED,
    failed → FAIL, each with ``status`` / ``reason`` user attributes. Suggestions carry the Optuna
    trial number and the parameters under ``params``, and the Ray trial id is stored on the
    Optuna trial, which is what lets a resumed driver match the two.

    In a target-sparsity sweep a complete trial also gets its constraint value
    (``Trial.set_constraint``, Optuna 5's replacement for the deprecated ``constraints_func``;
    > 0 is infeasible) before it is told, so every sampler and ``study.best_trials`` see it and
    an infeasible trial stays in the study. ``budget_s`` (the spec's ``time_budget_s``) stops
    new suggestions once that much time has passed in this driver run.
    """

    def __init__(self, space: Callable[..., Any], metrics: list[str], directions: list[str],
                 sampler: optuna.samplers.BaseSampler, study_name: str, storage: Any,
                 planned: int, constraint: Callable[..., float | None] | None = None,
                 budget_s: float | None = None,
                 error_reason: Callable[[str], str | None] | None = None,
                 trials_dir: str | None = None) -> None:
        modes = ["max" if d == "maximize" else "min" for d in directions]
        single = len(metrics) == 1
        super().__init__(space, metric=metrics[0] if single else metrics,
                         mode=modes[0] if single else modes, sampler=sampler,
                         study_name=study_name, storage=storage)
        self._objectives = list(metrics)
        self._planned = planned
        self._constraint = constraint  # a spec's TargetConstraint (plain data) in target mode
        self._budget_s = budget_s
        # The exception line of a trial Ray just failed, by trial id: a module-level function
        # (``demp.sweep.monitor.error_reason_of``), since Ray pickles this searcher.
        self._error_reason = error_reason
        self._budget_start: float | None = None  # this driver run's first suggestion
        # ray/ of the sweep: each trial's metrics.jsonl gives its objective after every
        # evaluation, which optuna-dashboard plots as intermediate values
        self._trials_dir = trials_dir

    def _out_of_time(self) -> bool:
        """``time_budget_s``: no new trial after the budget, counted per driver run."""
        if self._budget_s is None:
            return False
        if self._budget_start is None:
            self._budget_start = time.monotonic()
        return time.monotonic() - self._budget_start >= self._budget_s

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self._budget_start = None  # a resumed driver gets a fresh budget

    def _attributed(self) -> int:
        """Trials of this sweep in the study (lost ones do not count toward the plan)."""
        return sum(1 for t in self._ot_study.get_trials(deepcopy=False)
                   if "ray_trial_id" in t.user_attrs and t.user_attrs.get("status") != "lost")

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if trial_id not in self._ot_trials and (self._attributed() >= self._planned
                                                or self._out_of_time()):
            return Searcher.FINISHED
        params = super().suggest(trial_id)
        if not isinstance(params, dict):
            return params
        ot_trial = self._ot_trials[trial_id]
        ot_trial.set_user_attr("ray_trial_id", trial_id)
        return {"params": dict(params), "optuna_trial": ot_trial.number}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if isinstance(self.metric, list) or trial_id not in self._ot_trials:
            return  # Optuna keeps no intermediate values for multi-objective studies
        value = result.get(self.metric)
        if trial_id in self._completed_trials or not is_finite(value) or result.get("final"):
            return
        try:
            self._ot_trials[trial_id].report(float(value), result["training_iteration"])
        except Exception as exc:  # e.g. a re-reported result of a trial told before a restart
            logger.debug("not reporting %s to Optuna: %s", trial_id, exc)

    # What optuna-dashboard shows beside the objectives: every summary metric the trial ended with
    # (test accuracy, sparsities, FLOPs, time, steps) and the learning-rate / λ / σ it ended at.
    EXTRA_METRICS = (*SUMMARY_METRICS, "val_loss", "test_loss", "total_steps")

    def _set_secondary_metrics(self, ot_trial: Any, result: dict[str, Any]) -> None:
        """The trial's final metrics that are no objective, as user attributes (optuna-dashboard
        lists them per trial and can plot them), and the first objective after each evaluation
        as intermediate values when the final result carries them (``objective_history``:
        ``[[step, value], ...]``). Optuna's ``Trial.report`` refuses multi-objective studies,
        so they are written through the storage's public ``set_trial_intermediate_value``."""
        for m in self.EXTRA_METRICS:
            if m not in self._objectives and is_finite(result.get(m)):
                ot_trial.set_user_attr(m, float(result[m]))
        history = result.get("objective_history") or self._objective_history(ot_trial)
        if not history:
            return
        storage = self._ot_study._storage  # the study's own storage (Optuna's usual handle)
        for step, value in history:
            if is_finite(value):
                storage.set_trial_intermediate_value(ot_trial._trial_id, int(step), float(value))

    def _objective_history(self, ot_trial: Any) -> list[list[float]]:
        """``[[step, value], ...]`` of the first objective from the trial's metrics.jsonl."""
        trials_dir = getattr(self, "_trials_dir", None)  # absent in searchers pickled before
        ray_id = ot_trial.user_attrs.get("ray_trial_id")
        if not trials_dir or not ray_id:
            return []
        from demp.results.history import read_trial_history

        metric = self._objectives[0]
        return [[int(r["step"]), r[metric]] for r in
                read_trial_history(Path(trials_dir) / trial_dirname(ray_id)) if metric in r]

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if trial_id in self._completed_trials or ot_trial is None:
            return
        if result is None and not error:
            return  # removed before it ran (driver interrupted): Ray resumes it later
        status, reason = classify(result, error, self._objectives)
        error_reason = getattr(self, "_error_reason", None)
        if error and error_reason is not None:
            reason = error_reason(trial_id) or reason
        state = {"complete": optuna.trial.TrialState.COMPLETE,
                 "truncated": optuna.trial.TrialState.PRUNED,
                 "failed": optuna.trial.TrialState.FAIL}[status]
        values = [float(result[m]) for m in self._objectives] if status == "complete" else None
        violation = (self._constraint(dict(ot_trial.params), result)
                     if status == "complete" and self._constraint is not None else None)
        try:
            ot_trial.set_user_attr("status", status)
            if result and status != "failed":
                self._set_secondary_metrics(ot_trial, result)
            if reason:
                ot_trial.set_user_attr("reason", reason[:500])
            if violation is not None:  # Optuna 5 constraints: > 0 is infeasible
                ot_trial.set_constraint(TARGET_CONSTRAINT, violation)
                ot_trial.set_user_attr("feasible", violation <= 0)
        except Exception as exc:  # already finished: told before the driver restarted
            logger.debug("trial %s already finished in Optuna: %s", trial_id, exc)
        tell(self._ot_study, ot_trial.number, values, state)
        self._completed_trials.add(trial_id)


def tell(study: optuna.Study, number: int, values: list[float] | None,
         state: optuna.trial.TrialState) -> None:
    """``study.tell`` that tolerates trials told before a restart and an exhausted grid."""
    try:
        study.tell(number, values, state=state, skip_if_finished=True)
    except Exception as exc:
        # GridSampler.after_trial calls study.stop() once the grid is exhausted, which raises
        # outside study.optimize; Optuna has stored the state by then (tell's `finally`).
        if study.get_trials(deepcopy=False)[number].state != state:
            logger.warning("could not tell Optuna about trial %d: %s", number, exc)


def make_searcher(spec: SweepSpec, storage: Any,
                  error_reason: Callable[[str], str | None] | None = None,
                  trials_dir: str | None = None) -> ConcurrencyLimiter:
    """The spec's Optuna search behind Ray's concurrency limit. Everything it holds is plain
    data or Optuna's own (Ray pickles it into the experiment): the search space as dicts, the
    target constraint as ``TargetConstraint``, ``error_reason`` a module-level function."""
    searcher = DempOptunaSearch(spec.search_space(), spec.metrics, spec.directions,
                                make_sampler(spec), spec.resolved_study_name, storage,
                                spec.trials, constraint=spec.target_constraint(),
                                budget_s=spec.time_budget_s, error_reason=error_reason,
                                trials_dir=trials_dir)
    # reproducible: Ray tells the searcher a batch's trials only once all of them ended, so every
    # suggestion of a batch is made from the same finished trials, in trial-number order.
    return ConcurrencyLimiter(searcher, max_concurrent=spec.max_concurrent,
                              batch=spec.reproducible)


__all__ = ["TARGET_CONSTRAINT", "DempOptunaSearch", "make_sampler", "make_searcher", "tell"]

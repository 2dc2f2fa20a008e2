"""Pareto-aware early stopping for DemP sweeps: asynchronous successive halving on fronts.

Ray Tune's schedulers (ASHA, HyperBand, median stopping) rank trials on one metric. A DemP sweep
wants a frontier, and its trials pay for sparsity with accuracy: stopping on accuracy alone kills
exactly the sparse trials the frontier needs. ``ParetoAsha`` is ASHA (Li et al., 2018) with the
cut made by non-dominated sorting in the sweep's objectives, as in MO-ASHA (Schmucker et al.,
2021):

- **Rungs** are fractions of training (the reported ``progress`` = step / total_steps), by
  default ``min_progress · η^k`` below 1 (0.1, 0.3, 0.9 for η = 3). Progress rather than
  evaluations, because trials of one sweep may evaluate at different intervals, and a trial's
  sparsity is only comparable to another's at the same point of its λ schedule.
- **Decision.** When a trial reaches a rung, its objective values are recorded there and it
  *continues* if no trial recorded at that rung dominates it, or if it is among the top
  ``ceil(n / η)`` of the ``n`` recorded trials ordered by (non-dominated rank, crowding distance
  descending; among equals the trials recorded earlier come first, since a duplicate of a kept
  point adds nothing to a front). Otherwise it is *stopped*. The first trial at a rung always
  continues, as in ASHA.
- **Recovery window.** Accuracy dips at each prune event and recovers over the following steps,
  so a rung is not judged in the middle of a recovery: it is judged at the first evaluation at
  or after the rung's progress whose step ``s`` satisfies ``s − p ≥ ceil(recovery ·
  prune_interval)``, where ``p`` is the last prune step before ``s`` (a multiple of the trial's
  ``demp.death.prune_interval``; the death check at step ``p`` runs *after* the evaluation at step
  ``p``, so an evaluation at a multiple of the interval sees a fully recovered network). A trial
  whose evaluations skip past a rung is judged once, at the highest rung it reached (as in ASHA).
  The final evaluation is never judged: a trial that got there finishes.
- **State.** Ray Tune does not save scheduler state with its experiment, so ``ParetoAsha``
  writes its rung records and decision log to ``state_path`` (JSON, atomically) on every
  decision and reads it back the first time it is used after being unpickled, which is what
  ``Tuner.restore`` does on ``demp sweep resume``. A trial it stopped that reports again (the
  driver died before Ray acted on the decision, so Ray resumed the trial) is stopped again.

A stopped trial ends on an intermediate record, which ``results.classify`` calls truncated: it is
told to Optuna as PRUNED and stays out of the frontier.

Where rungs belong (measured on digits, bench/bench_scheduler.py): a DemP trial's deepest dip is
not a prune event but the regularization phase around λ's peak, where accuracy can fall to
chance and recover only as λ decays (λ peak 0.3: val_acc 0.96 → 0.11 at 35 % of training → 0.94
at the end). Rungs inside that phase judge trials mid-collapse; rungs after it (``rungs: [0.5,
0.75]``) lost less hypervolume than the default 0.1·3^k in the benchmark.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from demp import dotted
from demp.config import DeathConfig
from demp.pareto import crowding_distance, non_dominated_sort
from demp.results.values import is_finite
from demp.spec.layout import SweepPaths
from demp.spec.schema import SweepSpec
from demp.spec.space import apply_params

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

STATE_FILE = "scheduler_state.json"  # in the sweep directory
STATE_VERSION = 1
_EPS = 1e-9


def progress_rungs(min_progress: float, reduction_factor: float) -> list[float]:
    """ASHA's geometric rungs in training progress: ``min_progress · η^k`` for all k with a
    value below 1 (the end of training is not a rung: a trial that gets there finishes)."""
    if not 0 < min_progress < 1:
        raise ValueError(f"min_progress must be in (0, 1), got {min_progress}")
    if reduction_factor <= 1:
        raise ValueError(f"reduction_factor must be > 1, got {reduction_factor}")
    rungs, r = [], min_progress
    while r < 1 - _EPS:
        rungs.append(round(r, 12))
        r *= reduction_factor
    return rungs


def prune_interval_of(config: dict[str, Any]) -> int | None:
    """The trial's steps between prune events, or None when it never prunes.

    ``config`` is a sweep trial's config ({"base", "params", ...}); the sampled parameters win
    over the base, and anything unset takes the trainer's default.
    """
    data = apply_params(config.get("base") or {}, config.get("params") or {})
    if dotted.get(data, "demp.enabled", True) is False \
            or dotted.get(data, "demp.death.enabled", True) is False:
        return None
    return int(dotted.get(data, "demp.death.prune_interval", None)
               or DeathConfig().prune_interval)


def in_recovery(step: int, prune_interval: int | None, window: int) -> bool:
    """Whether an evaluation after ``step`` completed steps falls inside the recovery window of
    the last prune event before it (prune events run at step 0 and every ``prune_interval``
    steps, each right after that step's evaluation)."""
    if prune_interval is None or window <= 0 or step <= 0:
        return False
    last_prune = ((step - 1) // prune_interval) * prune_interval
    return step - last_prune < window


def recovery_window(prune_interval: int | None, recovery: float) -> int:
    """Steps after a prune event during which no rung is judged."""
    return 0 if prune_interval is None else math.ceil(recovery * prune_interval)


def rungs_judged(progress: float, step: int, rungs: Sequence[float], passed: Sequence[int],
                 prune_interval: int | None, recovery: float) -> list[int]:
    """The rungs an evaluation at (``progress``, ``step``) is judged at: those reached and not
    yet ``passed``, none inside a prune event's recovery window (the rung is then judged at the
    first evaluation after it). ``ParetoAsha.decide`` and the trial (which reports to Tune only
    at these evaluations: ``report_plan``) share this rule."""
    reached = [i for i, r in enumerate(rungs) if progress >= r - _EPS and i not in passed]
    if not reached or in_recovery(step, prune_interval,
                                  recovery_window(prune_interval, recovery)):
        return []
    return reached


class ParetoAsha(FIFOScheduler):
    """Asynchronous successive halving that cuts by non-dominated rank and crowding distance.

    Args:
        objectives: ``(metric, direction)`` pairs, the sweep's objectives.
        rungs: training-progress fractions in (0, 1) at which trials are judged; default
            ``progress_rungs(min_progress, reduction_factor)``.
        min_progress: the first rung when ``rungs`` is not given.
        reduction_factor: η; the top ``ceil(n / η)`` of ``n`` trials at a rung always continue.
        recovery: fraction of a trial's prune interval after each prune event during which its
            evaluations are not judged.
        state_path: JSON file the state is written to on every decision and restored from.
    """

    def __init__(self, objectives: Sequence[tuple[str, str]], *,
                 rungs: Sequence[float] | None = None, min_progress: float = 0.1,
                 reduction_factor: float = 3.0, recovery: float = 0.5,
                 state_path: str | Path | None = None) -> None:
        super().__init__()
        if not objectives:
            raise ValueError("objectives: at least one (metric, direction) pair is needed")
        if not 0 <= recovery < 1:
            raise ValueError(f"recovery must be in [0, 1), got {recovery}")
        self.metrics = [m for m, _ in objectives]
        self.directions = [d for _, d in objectives]
        self.reduction_factor = float(reduction_factor)
        self.rungs = (sorted(float(r) for r in rungs) if rungs is not None
                      else progress_rungs(min_progress, reduction_factor))
        if not self.rungs or not all(0 < r < 1 for r in self.rungs):
            raise ValueError(f"rungs must be progress fractions in (0, 1), got {self.rungs}")
        self.recovery = float(recovery)
        self.state_path = Path(state_path) if state_path is not None else None
        # Persisted: values recorded per rung, rungs each trial has passed, the decision log.
        self.recorded: list[dict[str, list[float]]] = [{} for _ in self.rungs]
        self.passed: dict[str, list[int]] = {}
        self.decisions: list[dict[str, Any]] = []
        # Derived from trial configs, never persisted.
        self._intervals: dict[str, int | None] = {}
        self._restored = False

    # ----------------------------------------------------------------------------- Ray hooks

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """The objectives come from the constructor; a single metric from Tune is not used."""
        return True

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self._ensure_restored()
        self._intervals[trial.trial_id] = prune_interval_of(trial.config)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        self._ensure_restored()
        if trial.trial_id not in self._intervals:
            self._intervals[trial.trial_id] = prune_interval_of(trial.config)
        return self.decide(trial.trial_id, result, self._intervals[trial.trial_id])

    def on_trial_complete(self, tune_controller: Any, trial: Trial,
                          result: dict[str, Any]) -> None:
        self._intervals.pop(trial.trial_id, None)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._intervals.pop(trial.trial_id, None)

    def debug_string(self) -> str:
        stopped = sum(d["decision"] == TrialScheduler.STOP for d in self.decisions)
        rungs = " | ".join(f"{r:.2f}: {len(rec)}" for r, rec in zip(self.rungs, self.recorded))
        return f"ParetoAsha: {stopped} stopped; trials per rung {rungs}"

    # ----------------------------------------------------------------------------- decisions

    def decide(self, trial_id: str, result: dict[str, Any], prune_interval: int | None) -> str:
        """CONTINUE or STOP for one reported result (the whole rule; Ray-independent)."""
        if trial_id in self._stopped():
            return TrialScheduler.STOP  # decided before a driver restart; Ray resumed it
        if result.get("final") or result.get("failed"):
            return TrialScheduler.CONTINUE
        progress, step = result.get("progress"), result.get("step")
        values = [result.get(m) for m in self.metrics]
        if progress is None or step is None or not all(is_finite(v) for v in values):
            return TrialScheduler.CONTINUE
        passed = self.passed.get(trial_id, [])
        reached = rungs_judged(float(progress), int(step), self.rungs, passed, prune_interval,
                               self.recovery)
        if not reached:
            return TrialScheduler.CONTINUE
        rung = max(reached)
        point = [float(v) for v in values]
        others = {t: v for t, v in self.recorded[rung].items() if t != trial_id}
        decision, rank, position, keep = self._cut(point, list(others.values()))
        self.recorded[rung][trial_id] = point
        self.passed[trial_id] = sorted({*passed, *reached})
        self.decisions.append({
            "trial_id": trial_id, "rung": rung, "rung_progress": self.rungs[rung],
            "progress": float(progress), "step": int(step), "values": point,
            "recorded": len(others) + 1, "rank": rank, "position": position, "keep": keep,
            "decision": decision,
        })
        if self.state_path is not None:
            self.save(self.state_path)
        return decision

    def _stopped(self) -> set[str]:
        return {d["trial_id"] for d in self.decisions if d["decision"] == TrialScheduler.STOP}

    def _cut(self, point: list[float], others: list[list[float]]) -> tuple[str, int, int, int]:
        """(decision, non-dominated rank, position in the rank/crowding order, how many are
        kept) for ``point`` against the points already recorded at its rung."""
        n = len(others) + 1
        keep = max(1, math.ceil(n / self.reduction_factor))
        if not others:
            return TrialScheduler.CONTINUE, 0, 0, keep
        points = np.array([point, *others], dtype=float)  # row 0 is the judged trial
        order: list[int] = []
        rank = 0
        for k, front in enumerate(non_dominated_sort(points, self.directions)):
            crowd = crowding_distance(points[front], self.directions)
            # Less crowded first; among equals earlier records first, the judged trial (row 0)
            # last.
            ranked = sorted(zip(front.tolist(), crowd.tolist()),
                            key=lambda ic: (-ic[1], ic[0] if ic[0] else len(points)))
            if 0 in front:
                rank = k
            order += [i for i, _ in ranked]
        position = order.index(0)
        kept = rank == 0 or position < keep
        return (TrialScheduler.CONTINUE if kept else TrialScheduler.STOP), rank, position, keep

    # ----------------------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION, "objectives": [list(o) for o in zip(self.metrics,
                                                                          self.directions)],
            "rungs": self.rungs, "reduction_factor": self.reduction_factor,
            "recovery": self.recovery,
            "recorded": {str(i): rec for i, rec in enumerate(self.recorded)},
            "passed": self.passed, "decisions": self.decisions,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Take over a saved state; it must come from a scheduler with the same rungs and
        objectives (a resumed sweep reads its own spec back, so it does)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"scheduler state version {state.get('version')} is not "
                             f"{STATE_VERSION}")
        objectives = [list(o) for o in zip(self.metrics, self.directions)]
        if state["objectives"] != objectives or not np.allclose(state["rungs"], self.rungs):
            raise ValueError(f"scheduler state is for objectives {state['objectives']} and rungs "
                             f"{state['rungs']}, not {objectives} and {self.rungs}")
        self.recorded = [dict(state["recorded"].get(str(i), {})) for i in range(len(self.rungs))]
        self.passed = {t: list(v) for t, v in state["passed"].items()}
        self.decisions = list(state["decisions"])

    def save(self, checkpoint_path: str | Path) -> None:
        """Write the state as JSON, atomically (a reader never sees half a file)."""
        path = Path(checkpoint_path)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.state(), indent=1) + "\n")
        os.replace(tmp, path)

    def restore(self, checkpoint_path: str | Path) -> None:
        self.load_state(json.loads(Path(checkpoint_path).read_text()))
        self._restored = True

    def _ensure_restored(self) -> None:
        """Once per (unpickled) instance: continue from the state file if there is one."""
        if self._restored:
            return
        self._restored = True
        if self.state_path is not None and self.state_path.is_file():
            self.restore(self.state_path)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Tuner.restore unpickles the scheduler as it was when the sweep started; the state
        # file, not the pickle, is what it continues from.
        self.__dict__.update(state)
        self._restored = False


def make_scheduler(spec: SweepSpec, paths: SweepPaths) -> ASHAScheduler | ParetoAsha | None:
    """The spec's early stopping. ParetoAsha keeps its state in the sweep directory, where a
    resumed driver's scheduler (unpickled by ``Tuner.restore`` as it was at the start) finds it."""
    es = spec.early_stopping
    if es is None:
        return None
    if es.kind == "pareto_asha":
        return ParetoAsha(list(zip(spec.metrics, spec.directions)), rungs=es.rungs,
                          min_progress=es.min_progress, reduction_factor=es.reduction_factor,
                          recovery=es.recovery, state_path=paths.root / STATE_FILE)
    return ASHAScheduler(time_attr="training_iteration", metric=es.metric,
                         mode="max" if es.direction == "maximize" else "min", max_t=es.max_t,
                         grace_period=es.grace_period, reduction_factor=es.reduction_factor)


def report_plan(spec: SweepSpec) -> dict[str, Any]:
    """What a trial must report to Tune for the spec's early stopping (plain data for the
    trial's config): ``final`` (nothing stops trials early: one report at the end), ``every``
    (Ray's ASHA counts reports as its time axis: every evaluation), or ``rungs`` (Pareto ASHA:
    the evaluations ``rungs_judged`` names). Checkpoints come on top (``checkpoint_due``)."""
    es = spec.early_stopping
    if es is None:
        return {"kind": "final"}
    if es.kind == "pareto_asha":
        rungs = (sorted(float(r) for r in es.rungs) if es.rungs is not None
                 else progress_rungs(es.min_progress, es.reduction_factor))
        return {"kind": "rungs", "rungs": rungs, "recovery": es.recovery}
    return {"kind": "every"}


__all__ = ["STATE_FILE", "ParetoAsha", "in_recovery", "make_scheduler", "progress_rungs",
           "prune_interval_of", "recovery_window", "report_plan", "rungs_judged"]

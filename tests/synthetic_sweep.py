"""A finished sweep directory written without running anything: spec.yaml, trials.jsonl and one
``ray/trial_<id>/result.json`` per trial, as a DemP sweep on digits leaves them.

For report tests at a size no real sweep reaches in a test (100 trials), and for timing the
report by hand::

    python -c "import sys; sys.path.insert(0, 'tests'); import synthetic_sweep as s; \\
               print(s.synthetic_sweep(__import__('pathlib').Path('/tmp/x'), 100))"

Trial ``t00000`` is dense (λ and σ peaks 0), the trials listed in ``COLLAPSED`` end at 0.07
validation accuracy (below chance, 0.1), ``TRUNCATED`` was stopped early, ``FAILED`` diverged.
Values are made up but consistent: sparsity grows with λ, accuracy falls with it.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from demp.results import TrialLog, TrialRecord
from demp.spec import SweepPaths, dump_spec, validate_spec

BASE = {"model": {"name": "mlp", "hidden": [128, 128]},
        "data": {"name": "digits", "batch_size": 64, "val_fraction": 0.2},
        "optimizer": {"name": "adamw", "lr": 0.01}, "epochs": 20, "eval_interval": 40,
        "device": "cpu", "threads": 1,
        "demp": {"regularizer": {"kind": "l1", "target": "norm_params"},
                 "schedule": {"shape": "one_cycle"}, "death": {"prune_interval": 40}}}
SPACE = {"demp.regularizer.peak": {"type": "float", "low": 1e-3, "high": 3.0, "log": True},
         "demp.noise.peak": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
         "optimizer.lr": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
         "demp.schedule.shape": {"type": "categorical",
                                 "choices": ["one_cycle", "warmup", "cosine_decay"]},
         "demp.schedule.span_fraction": {"type": "float", "low": 0.5, "high": 1.0}}
STEPS_PER_EPOCH = 17          # 1437 digits · 0.8 / 64
TOTAL = 20 * STEPS_PER_EPOCH  # 340 steps
COLLAPSED = ("t00003", "t00011")
TRUNCATED = "t00005"
FAILED = "t00007"


def _params(rng: random.Random, i: int) -> dict:
    if i == 0:
        return {"demp.regularizer.peak": 0.0, "demp.noise.peak": 0.0, "optimizer.lr": 0.01,
                "demp.schedule.shape": "one_cycle", "demp.schedule.span_fraction": 0.9}
    return {"demp.regularizer.peak": 10 ** rng.uniform(-3, math.log10(3.0)),
            "demp.noise.peak": 10 ** rng.uniform(-4, math.log10(3e-2)),
            "optimizer.lr": 10 ** rng.uniform(math.log10(3e-3), math.log10(3e-2)),
            "demp.schedule.shape": rng.choice(["one_cycle", "warmup", "cosine_decay"]),
            "demp.schedule.span_fraction": rng.uniform(0.5, 1.0)}


def synthetic_sweep(root: Path, trials: int = 100, evals: int = 9, groups: int = 2,
                    seed: int = 0, name: str = "synthetic") -> Path:
    """Write the sweep directory ``root/name`` and return it."""
    rng = random.Random(seed)
    spec = validate_spec({"name": name, "output_root": str(root), "trials": trials,
                          "base": BASE, "space": SPACE, "wandb": {"mode": "disabled"}})
    paths = SweepPaths.for_spec(root, name)
    paths.root.mkdir(parents=True)
    paths.spec.write_text(dump_spec(spec))
    log = TrialLog(paths.trials)
    names = [f"fc{g}" for g in range(groups)]
    for i in range(trials):
        tid = f"t{i:05d}"
        params = _params(rng, i)
        lam = params["demp.regularizer.peak"]
        strength = 0.0 if lam == 0 else (math.log10(lam) + 3.5) / 4.0   # 0 … ~1
        sparsity = min(0.97, max(0.0, strength * rng.uniform(0.8, 1.1)))
        acc = 0.985 - 0.08 * sparsity ** 3 - rng.uniform(0.0, 0.03)
        if tid in COLLAPSED:
            acc, sparsity = 0.07, 0.99
        steps = [round(TOTAL * (k + 1) / evals) for k in range(evals)]
        history = []
        for k, step in enumerate(steps):
            done = (k + 1) / evals
            rec = {"step": step, "total_steps": TOTAL, "epoch": step / STEPS_PER_EPOCH,
                   "val_acc": acc, "test_acc": acc - 0.005, "param_sparsity": sparsity * done,
                   "neural_sparsity": sparsity * done * 0.7, "lam": lam, "sigma": 0.0,
                   "lr": params["optimizer.lr"], "complete": k == evals - 1, "failed": False}
            for g in names:
                dead = min(1.0, sparsity * done * rng.uniform(0.8, 1.0))
                rec[f"live_units/{g}"] = round(128 * (1 - dead))
                rec[f"dead_fraction/{g}"] = 1 - round(128 * (1 - dead)) / 128
            history.append(rec)
        status, reason = "complete", ""
        if tid == TRUNCATED:
            status, reason, history = "truncated", "stopped before its last step", history[:3]
        elif tid == FAILED:
            status, reason, history = "failed", "loss is nan", history[:2]
        last = dict(history[-1])
        if status == "failed":
            last.update(val_acc=float("nan"), param_sparsity=float("nan"))
        trial_dir = paths.ray / f"trial_{tid}"
        trial_dir.mkdir(parents=True)
        (trial_dir / "result.json").write_text(
            "".join(json.dumps({**r, "config": {"params": params}}) + "\n" for r in history))
        log.append(TrialRecord(trial_id=tid, status=status, number=i, params=params,
                               metrics=last, reason=reason))
    return paths.root


__all__ = ["COLLAPSED", "FAILED", "STEPS_PER_EPOCH", "TOTAL", "TRUNCATED", "synthetic_sweep"]

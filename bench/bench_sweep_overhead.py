"""Orchestration overhead per trial: N identical fixed-length trials through the sweep service
(Ray Tune + Optuna + per-eval checkpoints + bookkeeping) vs. the same trials called directly.

Both sides train the same config (digits MLP, fixed steps, one fixed λ), in one run, so the
ratio is what orchestration costs on this machine. The direct side runs in this process after a
warm-up (data and imports loaded once); the sweep side counts what a real sweep pays: worker
start-up, per-evaluation checkpoints, Optuna ask/tell, experiment snapshots. Ray start-up is
timed separately and not in the per-trial figures.

    python bench/bench_sweep_overhead.py [--trials 8] [--steps 400] [--eval-interval 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported

from _common import machine, table  # noqa: E402

from demp.config import TrainConfig  # noqa: E402
from demp.methods import build_trainer  # noqa: E402
from demp.sweep import validate_spec  # noqa: E402

LAMBDA = 0.1


def base_config(steps: int, eval_interval: int) -> dict:
    return {"model": {"name": "mlp", "hidden": [128, 128]}, "data": {"name": "digits"},
            "optimizer": {"lr": 0.01}, "max_steps": steps, "eval_interval": eval_interval,
            "threads": 1, "device": "cpu",
            "demp": {"regularizer": {"peak": LAMBDA}, "death": {"prune_interval": eval_interval}}}


def run_direct(base: dict, n: int) -> list[float]:
    cfg = TrainConfig.model_validate(base)
    data = build_trainer(cfg).data  # warm-up: imports and the dataset, once
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        build_trainer(cfg, data=data).fit()
        times.append(time.perf_counter() - t0)
    return times


def run_sweep_once(base: dict, n: int, concurrent: int, root: Path) -> tuple[float, list[float]]:
    from demp.results import TrialLog
    from demp.sweep import run_sweep

    spec = validate_spec({
        "name": f"overhead-c{concurrent}", "output_root": str(root), "base": base,
        "space": {"demp.regularizer.peak": {"choices": [LAMBDA]}},  # identical trials
        "trials": n, "max_concurrent": concurrent, "sampler": {"name": "random", "seed": 0},
        "resources": {"cpu": 1}})
    t0 = time.perf_counter()
    outcome = run_sweep(spec)
    wall = time.perf_counter() - t0
    records = TrialLog(outcome.paths.trials).records()
    assert len(records) == n and all(r.status == "complete" for r in records), outcome.counts
    return wall, [float(r.metrics["time_total_s"]) for r in records]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--eval-interval", type=int, default=40)
    args = ap.parse_args()
    base = base_config(args.steps, args.eval_interval)

    direct = run_direct(base, args.trials)
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t0
    rows = []
    d_wall = sum(direct)
    d_per = d_wall / args.trials
    rows.append(["direct (in process, warm)", args.trials, f"{d_wall:.2f}", f"{d_per:.3f}", "-",
                 "1.00"])
    with tempfile.TemporaryDirectory(prefix="demp-bench-") as tmp:
        for concurrent in (1, 2):
            wall, in_trial = run_sweep_once(base, args.trials, concurrent, Path(tmp))
            per = wall / args.trials
            rows.append([f"sweep, {concurrent} at a time", args.trials, f"{wall:.2f}",
                         f"{per:.3f}", f"{per - d_per / concurrent:+.3f}",
                         f"{wall / d_wall:.2f}"])
            if concurrent == 1:
                warm = in_trial[1:] or in_trial
                trial_note = (f"inside the trial (Ray's time_total_s): first {in_trial[0]:.2f} s, "
                              f"then median {statistics.median(warm):.3f} s vs direct "
                              f"{statistics.median(direct):.3f} s")
    ray.shutdown()
    print(f"machine: {machine()}")
    print(f"config: digits MLP 128x128, {args.steps} steps, eval (+checkpoint) every "
          f"{args.eval_interval} steps, λ={LAMBDA}; Ray start-up {ray_start:.1f} s (not counted)")
    print(table(["mode", "trials", "wall s", "s / trial", "overhead s / trial", "ratio"], rows))
    print(trial_note)


if __name__ == "__main__":
    main()

"""Early stopping under an equal time budget: hypervolume on digits with the Pareto-aware
scheduler (ParetoAsha), single-metric ASHA on val_acc, and no early stopping, 3 seeds.

Every sweep is sweeps/digits-quick.yaml (TPE over λ, σ, schedule shape, pct_start, span and
prune interval) with the same ``time_budget_s`` and an unreachable trial count, so each method
runs as many trials as the budget allows; stopping a trial early buys more trials. Seed s sets
the sampler seed and the training seed. Trials running when the budget ends are stopped and
count as truncated (off the frontier) for every method alike. Hypervolumes share the spec's
reference point (chance accuracy, zero sparsity); the ratio is against no early stopping in the
same run. Methods are interleaved per seed so that load drift on a shared machine spreads over
all three. ASHA's rungs (1, 3, 9 evaluations of 9) and ParetoAsha's default ones (progress 0.1, 0.3,
0.9) sit at the same points of training; ``--pareto-rungs`` moves ParetoAsha's.

    python bench/bench_scheduler.py [--budget 45] [--seeds 0 1 2] [--concurrent 2]
                                    [--methods none asha pareto_asha] [--pareto-rungs 0.5 0.75]
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

from demp.config import load_yaml  # noqa: E402
from demp.sweep import validate_spec  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "sweeps" / "digits-quick.yaml"
METHODS = {
    "none": None,
    "asha": {"kind": "asha", "metric": "val_acc", "grace_period": 1, "reduction_factor": 3},
    "pareto_asha": {"kind": "pareto_asha", "min_progress": 0.1, "reduction_factor": 3},
}


def method_spec(method: str, seed: int, budget: float, concurrent: int, root: Path,
                pareto_rungs: list[float] | None = None) -> dict:
    data = load_yaml(SPEC)
    data.update(name=f"sched-{method}-s{seed}", output_root=str(root), trials=1000,
                max_concurrent=concurrent, time_budget_s=budget, wandb={"mode": "disabled"})
    data["base"]["seed"] = seed
    data["sampler"] = {**data["sampler"], "seed": seed}
    if METHODS[method] is not None:
        data["early_stopping"] = dict(METHODS[method])
    if method == "pareto_asha" and pareto_rungs:
        data["early_stopping"] = {"kind": "pareto_asha", "rungs": pareto_rungs,
                                  "reduction_factor": 3}
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=45.0, help="seconds per sweep")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--pareto-rungs", type=float, nargs="+", default=None,
                    help="explicit ParetoAsha rungs (progress fractions) instead of 0.1·3^k")
    args = ap.parse_args()
    if "none" not in args.methods:
        ap.error("--methods: 'none' is the reference of the ratio column")

    import ray

    from demp.sweep import run_sweep

    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    stats: dict[str, dict[str, list[float]]] = {
        m: {"hv": [], "complete": [], "truncated": [], "steps": [], "front": []}
        for m in args.methods}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demp-bench-") as tmp:
        for seed in args.seeds:
            for method in args.methods:
                spec = validate_spec(method_spec(method, seed, args.budget, args.concurrent,
                                                 Path(tmp), args.pareto_rungs))
                outcome = run_sweep(spec)
                c = outcome.counts
                steps = sum(int(r.metrics.get("step") or 0) for r in outcome.records)
                s = stats[method]
                s["hv"].append(outcome.frontier.hypervolume)
                s["complete"].append(c["complete"])
                s["truncated"].append(c["truncated"])
                s["steps"].append(steps)
                s["front"].append(len(outcome.frontier.members))
                print(f"  seed {seed} {method:<15} HV {outcome.frontier.hypervolume:.4f} "
                      f"{c} trial-steps {steps}", flush=True)
    ray.shutdown()
    ref = statistics.mean(stats["none"]["hv"])
    rows = []
    for m, s in stats.items():
        hv = s["hv"]
        sd = statistics.stdev(hv) if len(hv) > 1 else 0.0
        rows.append([m, *[f"{v:.4f}" for v in hv], f"{statistics.mean(hv):.4f} ± {sd:.4f}",
                     f"{statistics.mean(hv) / ref:.3f}", f"{statistics.mean(s['complete']):.1f}",
                     f"{statistics.mean(s['truncated']):.1f}", f"{statistics.mean(s['front']):.1f}",
                     f"{statistics.mean(s['steps']):.0f}"])
    rungs = args.pareto_rungs or [0.1, 0.3, 0.9]
    print(f"machine: {machine()}; {len(args.seeds)} seeds x {len(args.methods)} methods, "
          f"{args.budget:g} s per sweep, {args.concurrent} trials at a time, "
          f"{time.perf_counter() - t0:.0f} s in all")
    print(f"spec: {SPEC.name}; reference point: val_acc=0.1, param_sparsity=0; asha on val_acc "
          f"at evaluations 1, 3, 9 (η 3); pareto_asha rungs {rungs} (η 3, recovery 0.5)")
    print(table(["method", *[f"HV seed {s}" for s in args.seeds], "mean ± sd", "HV / none",
                 "complete", "truncated", "frontier size", "trial-steps"], rows))


if __name__ == "__main__":
    main()

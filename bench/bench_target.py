"""Target-sparsity mode against a plain sweep: how close trials land to the target, and the
accuracy reached there compared with the plain sweep's frontier at that sparsity, 3 seeds.

- plain: sweeps/digits-quick.yaml (TPE over λ and the rest; objectives val_acc and
  param_sparsity), ``--plain-trials`` trials;
- target: sweeps/digits-target.yaml (λ adapted online to 50 % parameter sparsity; TPE maximizes
  val_acc under |achieved − target| ≤ 0.03), ``--target-trials`` trials.

Seed s sets the sampler and training seeds of both. Reported per seed: |achieved − target| over
the target sweep's complete trials (median, max) and the share that is feasible; the best
feasible trial's val / test accuracy; and the plain sweep's best frontier point at that sparsity:
the most accurate complete trial with param_sparsity ≥ target (and ≥ target − tolerance).
Validation accuracy is what both searches maximize, so the best-of-N val_acc is biased upward
by the number of candidates; test accuracy is the fair comparison.

    python bench/bench_target.py [--plain-trials 24] [--target-trials 12] [--seeds 0 1 2]
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

ROOT = Path(__file__).resolve().parents[1] / "sweeps"
PLAIN, TARGET = ROOT / "digits-quick.yaml", ROOT / "digits-target.yaml"


def seeded(path: Path, name: str, seed: int, trials: int, concurrent: int, root: Path) -> dict:
    data = load_yaml(path)
    data.update(name=f"{name}-s{seed}", output_root=str(root), trials=trials,
                max_concurrent=concurrent, wandb={"mode": "disabled"})
    data["base"]["seed"] = seed
    data["sampler"] = {**data["sampler"], "seed": seed}
    return data


def best_at(records: list, metric: str, at_least: float) -> object | None:
    """The most accurate complete trial at least this sparse (a frontier point by construction)."""
    ok = [r for r in records if r.status == "complete" and r.metrics[metric] >= at_least - 1e-12]
    return max(ok, key=lambda r: (r.metrics["val_acc"], r.metrics[metric]), default=None)


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plain-trials", type=int, default=24)
    ap.add_argument("--target-trials", type=int, default=12)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--concurrent", type=int, default=2)
    args = ap.parse_args()

    import ray

    from demp.sweep import run_sweep

    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    rows, gaps_all, test_delta = [], [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demp-bench-") as tmp:
        for seed in args.seeds:
            target_spec = validate_spec(seeded(TARGET, "target", seed, args.target_trials,
                                               args.concurrent, Path(tmp)))
            plain_spec = validate_spec(seeded(PLAIN, "plain", seed, args.plain_trials,
                                              args.concurrent, Path(tmp)))
            tcfg = target_spec.base.demp.target
            metric, goal, tol = tcfg.metric, tcfg.value, target_spec.resolved_tolerance
            t1 = time.perf_counter()
            target = run_sweep(target_spec)
            t_target = time.perf_counter() - t1
            t1 = time.perf_counter()
            plain = run_sweep(plain_spec)
            t_plain = time.perf_counter() - t1
            done = [r for r in target.records if r.status == "complete"]
            gaps = [abs(r.metrics[metric] - goal) for r in done]
            gaps_all += gaps
            feasible = [r for r in done if r.feasible]
            best = max(feasible, key=lambda r: r.metrics["val_acc"], default=None)
            at = best_at(plain.records, metric, goal)
            near = best_at(plain.records, metric, goal - tol)
            if best is not None and at is not None:
                test_delta.append(best.metrics["test_acc"] - at.metrics["test_acc"])
            m = lambda r, k: None if r is None else r.metrics[k]  # noqa: E731
            rows.append([
                seed, f"{len(feasible)}/{len(done)}",
                fmt(statistics.median(gaps) if gaps else None), fmt(max(gaps, default=None)),
                fmt(m(best, metric)), fmt(m(best, "val_acc")), fmt(m(best, "test_acc")),
                fmt(m(at, metric)), fmt(m(at, "val_acc")), fmt(m(at, "test_acc")),
                fmt(m(near, metric)), fmt(m(near, "test_acc")),
                f"{t_target:.0f} / {t_plain:.0f}",
            ])
            print(f"  seed {seed}: target {target.counts}, plain {plain.counts}", flush=True)
    ray.shutdown()
    print(f"machine: {machine()}; {len(args.seeds)} seeds; target {metric} = {goal} ± {tol}; "
          f"{args.target_trials} target trials vs. {args.plain_trials} plain trials, "
          f"{args.concurrent} at a time; {time.perf_counter() - t0:.0f} s in all")
    print(table(["seed", "feasible", "|gap| median", "|gap| max", "best: sparsity", "best: val",
                 "best: test", "plain ≥target: sparsity", "val", "test",
                 "plain ≥target−tol: sparsity", "test", "time target / plain (s)"], rows))
    if gaps_all:
        print(f"|achieved − target| over all {len(gaps_all)} complete target trials: mean "
              f"{statistics.mean(gaps_all):.4f}, max {max(gaps_all):.4f}")
    if test_delta:
        print(f"test accuracy, best feasible target trial − plain frontier at ≥ target: mean "
              f"{statistics.mean(test_delta):+.4f} over {len(test_delta)} seeds")


if __name__ == "__main__":
    main()

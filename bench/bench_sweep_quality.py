"""Search quality: hypervolume after 24 trials on digits for the default sampler (TPE, as in
sweeps/digits-quick.yaml) vs. random search vs. a 24-point log grid over λ alone, 3 seeds.

Every sweep is sweeps/digits-quick.yaml with only the sampler (and, for the grid, the space)
changed; seed s sets both the sampler seed and the training seed, so all three methods see the
same training noise. Hypervolumes share the spec's reference point (chance accuracy, zero
sparsity), so they compare directly; the ratio is against random search in the same run.

    python bench/bench_sweep_quality.py [--trials 24] [--seeds 0 1 2] [--concurrent 2]
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
METHODS = ("tpe (default)", "random", "λ grid")


def method_spec(method: str, seed: int, trials: int, concurrent: int, root: Path) -> dict:
    data = load_yaml(SPEC)
    data.update(name=f"quality-{method.split()[0].replace('λ', 'lambda')}-s{seed}",
                output_root=str(root), trials=trials, max_concurrent=concurrent)
    data["base"]["seed"] = seed
    if method == "random":
        data["sampler"] = {"name": "random", "seed": seed}
    elif method == "λ grid":
        lam = dict(data["space"]["demp.regularizer.peak"])
        lam["grid_points"] = trials
        data["space"] = {"demp.regularizer.peak": lam}
        data["sampler"] = {"name": "grid", "seed": seed}
    else:
        data["sampler"] = {**data["sampler"], "seed": seed}
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--concurrent", type=int, default=2)
    args = ap.parse_args()

    import ray

    from demp.sweep import run_sweep

    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    hv: dict[str, list[float]] = {m: [] for m in METHODS}
    fronts: dict[str, list[int]] = {m: [] for m in METHODS}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demp-bench-") as tmp:
        for seed in args.seeds:
            for method in METHODS:
                spec = validate_spec(method_spec(method, seed, args.trials, args.concurrent,
                                                 Path(tmp)))
                outcome = run_sweep(spec)
                hv[method].append(outcome.frontier.hypervolume)
                fronts[method].append(len(outcome.frontier.members))
                print(f"  seed {seed} {method:<14} HV {outcome.frontier.hypervolume:.4f} "
                      f"({outcome.counts})", flush=True)
    ray.shutdown()
    ref = statistics.mean(hv["random"])
    rows = []
    for m in METHODS:
        sd = statistics.stdev(hv[m]) if len(hv[m]) > 1 else 0.0
        rows.append([m, *[f"{v:.4f}" for v in hv[m]], f"{statistics.mean(hv[m]):.4f} ± {sd:.4f}",
                     f"{statistics.mean(fronts[m]):.1f}", f"{statistics.mean(hv[m]) / ref:.3f}"])
    print(f"machine: {machine()}; {len(args.seeds)} seeds x {len(METHODS)} methods x "
          f"{args.trials} trials in {time.perf_counter() - t0:.0f} s")
    print(f"spec: {SPEC.name}; reference point: val_acc=0.1, param_sparsity=0")
    print(table(["method", *[f"seed {s}" for s in args.seeds], "mean ± sd", "frontier size",
                 "HV / random"], rows))


if __name__ == "__main__":
    main()

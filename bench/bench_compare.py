"""DemP against EarlyCroP-S and network slimming on digits: the three sweeps of
sweeps/digits-compare-*.yaml with equal trial budgets, compared under one reference point.

Each sweep is its shipped spec with only the trial count, concurrency, seed and output root
changed (W&B off); seed s sets both the sampler seed and the training seed. Hypervolumes share
the specs' reference point (chance accuracy, zero sparsity); ratios are against DemP in the same
run. "best acc @ sparsity ≥ X" is the best validation accuracy among complete trials whose
parameter sparsity is at least X: where on the frontier a method wins.

    python bench/bench_compare.py [--trials 24] [--seeds 0] [--concurrent 2] [--keep DIR]
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
from demp.sweep.spec import validate_spec  # noqa: E402

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
SPECS = {"DemP": "digits-compare-demp.yaml", "EarlyCroP-S": "digits-compare-earlycrop.yaml",
         "network slimming": "digits-compare-slimming.yaml"}
SPARSITY_LEVELS = (0.5, 0.8, 0.9, 0.95)


def method_spec(method: str, seed: int, trials: int, concurrent: int, root: Path) -> dict:
    data = load_yaml(SWEEPS / SPECS[method])
    data.update(name=f"{data['name']}-s{seed}", output_root=str(root), trials=trials,
                max_concurrent=concurrent, wandb={"mode": "disabled"})
    data["base"]["seed"] = seed
    data["sampler"] = {**data["sampler"], "seed": seed}
    return data


def best_at(records: list, level: float) -> float | None:
    accs = [r.metrics["val_acc"] for r in records
            if r.status == "complete" and r.metrics.get("param_sparsity", 0.0) >= level]
    return max(accs) if accs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the sweeps here (default: a temporary directory)")
    args = ap.parse_args()

    import ray

    from demp.sweep.compare import compare_sweeps
    from demp.sweep.runner import run_sweep

    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    hv: dict[str, list[float]] = {m: [] for m in SPECS}
    rows_by_seed = []
    seconds: dict[str, float] = {m: 0.0 for m in SPECS}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demp-bench-") as tmp:
        root = args.keep or Path(tmp)
        for seed in args.seeds:
            dirs = []
            for method in SPECS:
                spec = validate_spec(method_spec(method, seed, args.trials, args.concurrent,
                                                 root))
                t1 = time.perf_counter()
                outcome = run_sweep(spec, overwrite=True)
                seconds[method] += time.perf_counter() - t1
                dirs.append(outcome.paths.root)
                print(f"  seed {seed} {method:<17} HV {outcome.frontier.hypervolume:.4f} "
                      f"({outcome.counts}) {time.perf_counter() - t1:.0f} s", flush=True)
            c = compare_sweeps(dirs)
            for method, e in zip(SPECS, c.entries):
                hv[method].append(e.frontier.hypervolume)
            rows_by_seed.append((seed, c))
    ray.shutdown()

    print(f"machine: {machine()}; {len(args.seeds)} seed(s) x {len(SPECS)} methods x "
          f"{args.trials} trials in {time.perf_counter() - t0:.0f} s")
    print(f"specs: {', '.join(SPECS.values())}; reference point: val_acc=0.1, "
          f"param_sparsity=0")
    ref = statistics.mean(hv["DemP"])
    rows = []
    for seed, c in rows_by_seed:
        base = c.entries[0].frontier.hypervolume
        for method, e in zip(SPECS, c.entries):
            recs = e.outcome.records
            best = [best_at(recs, s) for s in SPARSITY_LEVELS]
            rows.append([seed, method, f"{e.outcome.counts['complete']}/{args.trials}",
                         len(e.frontier.members), f"{e.frontier.hypervolume:.4f}",
                         f"{e.frontier.hypervolume / base:.3f}" if base else "",
                         f"{e.on_union}/{len(c.union.members)}",
                         *[f"{b:.3f}" if b is not None else "—" for b in best],
                         f"{seconds[method] / len(args.seeds):.0f}"])
    print(table(["seed", "method", "complete", "frontier", "hypervolume", "HV / DemP",
                 "on union frontier", *[f"best acc @ sp≥{s:g}" for s in SPARSITY_LEVELS],
                 "mean sweep s"], rows))
    if len(args.seeds) > 1:
        print(table(["method", "mean HV ± sd", "HV / DemP"], [
            [m, f"{statistics.mean(v):.4f} ± {statistics.stdev(v):.4f}",
             f"{statistics.mean(v) / ref:.3f}"] for m, v in hv.items()]))


if __name__ == "__main__":
    main()

"""DemP against EarlyCroP-S and network slimming on digits: the three sweeps of
sweeps/digits-compare-*.yaml (MLP) or sweeps/digits-cnn-compare-*.yaml (small CNN) with equal
trial budgets, compared under one reference point.

Each sweep is its shipped spec with only the trial count, concurrency, seed and output root
changed (W&B off); seed s sets both the sampler seed and the training seed. Hypervolumes share
the specs' reference point (chance accuracy, zero sparsity); ratios are against DemP in the same
run. "best acc @ sparsity ≥ X" is the best validation accuracy among complete trials whose
parameter sparsity is at least X: where on the frontier a method wins; "test acc @ sp ≥ X" is
the test accuracy of that same trial (chosen on validation, never on test).

--set applies trainer overrides to the DemP sweep's base only (for before/after tables of a DemP
change, e.g. --set demp.regularizer.target=norm_params); --methods runs a subset.

    python bench/bench_compare.py [--arch mlp|cnn] [--trials 24] [--seeds 0] [--concurrent 2]
        [--methods DemP EarlyCroP-S "network slimming"] [--set KEY=VALUE ...] [--keep DIR]
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

from demp.config import apply_overrides, load_yaml  # noqa: E402
from demp.sweep import validate_spec  # noqa: E402

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
PREFIX = {"mlp": "digits-compare-", "cnn": "digits-cnn-compare-"}
SPECS = {"DemP": "demp.yaml", "EarlyCroP-S": "earlycrop.yaml", "network slimming": "slimming.yaml"}
SPARSITY_LEVELS = (0.5, 0.8, 0.9, 0.95)


def method_spec(method: str, arch: str, seed: int, trials: int, concurrent: int, root: Path,
                overrides: list[str]) -> dict:
    data = load_yaml(SWEEPS / (PREFIX[arch] + SPECS[method]))
    data.update(name=f"{data['name']}-s{seed}", output_root=str(root), trials=trials,
                max_concurrent=concurrent, wandb={"mode": "disabled"})
    data["base"]["seed"] = seed
    data["sampler"] = {**data["sampler"], "seed": seed}
    if method == "DemP":
        apply_overrides(data["base"], overrides)
    return data


def best_at(records: list, level: float) -> tuple[float, float] | None:
    """(val acc, test acc) of the complete trial with the best val acc at sparsity ≥ level."""
    ok = [r.metrics for r in records
          if r.status == "complete" and r.metrics.get("param_sparsity", 0.0) >= level]
    if not ok:
        return None
    best = max(ok, key=lambda m: m["val_acc"])
    return best["val_acc"], best.get("test_acc", float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=sorted(PREFIX), default="mlp")
    ap.add_argument("--methods", nargs="+", choices=list(SPECS), default=list(SPECS))
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="trainer override for the DemP sweep's base (repeatable)")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the sweeps here (default: a temporary directory)")
    args = ap.parse_args()

    import ray

    from demp.results import compare_sweeps
    from demp.sweep import run_sweep

    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    methods = [m for m in SPECS if m in args.methods]
    hv: dict[str, list[float]] = {m: [] for m in methods}
    rows_by_seed = []
    seconds: dict[str, float] = {m: 0.0 for m in methods}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demp-bench-") as tmp:
        root = args.keep or Path(tmp)
        for seed in args.seeds:
            dirs = []
            for method in methods:
                spec = validate_spec(method_spec(method, args.arch, seed, args.trials,
                                                 args.concurrent, root, args.overrides))
                t1 = time.perf_counter()
                outcome = run_sweep(spec, overwrite=True)
                seconds[method] += time.perf_counter() - t1
                dirs.append(outcome.paths.root)
                at = "  ".join(
                    f"sp≥{s:g}: " + (f"{b[0]:.3f}/{b[1]:.3f}" if b else "—")
                    for s, b in ((s, best_at(outcome.records, s)) for s in (0.8, 0.9)))
                print(f"  seed {seed} {method:<17} HV {outcome.frontier.hypervolume:.4f} "
                      f"({outcome.counts}) {time.perf_counter() - t1:.0f} s  val/test acc {at}",
                      flush=True)
            c = compare_sweeps(dirs)
            for method, e in zip(methods, c.entries):
                hv[method].append(e.frontier.hypervolume)
            rows_by_seed.append((seed, c))
    ray.shutdown()

    print(f"machine: {machine()}; {len(args.seeds)} seed(s) x {len(methods)} methods x "
          f"{args.trials} trials in {time.perf_counter() - t0:.0f} s")
    print(f"specs: {', '.join(PREFIX[args.arch] + SPECS[m] for m in methods)}; DemP overrides: "
          f"{' '.join(args.overrides) or 'none'}; reference point: val_acc=0.1, "
          f"param_sparsity=0")
    ref = statistics.mean(hv[methods[0]])
    rows = []
    best_by_method: dict[str, list] = {m: [] for m in methods}
    for seed, c in rows_by_seed:
        base = c.entries[0].frontier.hypervolume
        for method, e in zip(methods, c.entries):
            recs = e.outcome.records
            best = [best_at(recs, s) for s in SPARSITY_LEVELS]
            best_by_method[method].append(best)
            rows.append([seed, method, f"{e.outcome.counts['complete']}/{args.trials}",
                         len(e.frontier.members), f"{e.frontier.hypervolume:.4f}",
                         f"{e.frontier.hypervolume / base:.3f}" if base else "",
                         f"{e.on_union}/{len(c.union.members)}",
                         *[f"{b[0]:.3f} / {b[1]:.3f}" if b is not None else "—" for b in best],
                         f"{seconds[method] / len(args.seeds):.0f}"])
    print(table(["seed", "method", "complete", "frontier", "hypervolume",
                 f"HV / {methods[0]}", "on union frontier",
                 *[f"val / test acc @ sp≥{s:g}" for s in SPARSITY_LEVELS], "mean sweep s"], rows))

    def mean_test(m: str, k: int) -> str:
        got = [b[k][1] for b in best_by_method[m] if b[k] is not None]
        return (f"{statistics.mean(got):.3f} ({len(got)}/{len(best_by_method[m])} seeds)"
                if got else "none")

    sd = (lambda v: statistics.stdev(v)) if len(args.seeds) > 1 else (lambda v: 0.0)
    k8, k9 = SPARSITY_LEVELS.index(0.8), SPARSITY_LEVELS.index(0.9)
    print(table(["method", "mean HV ± sd", f"HV / {methods[0]}", "test acc @ sp≥0.8",
                 "test acc @ sp≥0.9"], [
        [m, f"{statistics.mean(v):.4f} ± {sd(v):.4f}", f"{statistics.mean(v) / ref:.3f}",
         mean_test(m, k8), mean_test(m, k9)] for m, v in hv.items()]))


if __name__ == "__main__":
    main()

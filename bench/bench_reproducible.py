"""Reproducible mode's price: the main job (sweeps/digits-quick.yaml, W&B disabled) run with and
without ``reproducible: true``, alternating, on one local Ray.

Reports each run's wall time, the ratio reproducible / default, and whether the runs of each mode
produced the same trials (Optuna number → sampled parameters and final val_acc). Batches wait for
their slowest trial, which is the whole cost; with two trials at a time it is the gap between the
two trials' lengths, each batch.

    python bench/bench_reproducible.py [--rounds 2] [--trials 24] [--concurrent 2]
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


def trial_list(outcome) -> list[tuple]:
    """What a run suggested and got, by Optuna trial number."""
    return sorted((r.number, tuple(sorted(r.params.items())), round(r.metrics["val_acc"], 6))
                  for r in outcome.records)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--concurrent", type=int, default=2)
    args = ap.parse_args()

    import ray

    from demp.sweep import run_sweep

    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    wall: dict[bool, list[float]] = {False: [], True: []}
    lists: dict[bool, list[list[tuple]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="demp-bench-") as tmp:
        for rnd in range(args.rounds):
            for mode in (False, True):
                data = load_yaml(SPEC)
                data.update(name=f"rep-{int(mode)}-{rnd}", output_root=tmp, trials=args.trials,
                            max_concurrent=args.concurrent, reproducible=mode,
                            wandb={"mode": "disabled"})
                t0 = time.perf_counter()
                outcome = run_sweep(validate_spec(data))
                wall[mode].append(time.perf_counter() - t0)
                lists[mode].append(trial_list(outcome))
                print(f"  round {rnd} reproducible={mode}: {wall[mode][-1]:.1f} s, HV "
                      f"{outcome.frontier.hypervolume:.4f}", flush=True)
    ray.shutdown()
    rows = []
    for mode in (False, True):
        same = all(t == lists[mode][0] for t in lists[mode][1:])
        rows.append([f"reproducible={mode}", *[f"{w:.1f}" for w in wall[mode]],
                     f"{statistics.mean(wall[mode]):.1f}",
                     "yes" if same else "no", ])
    ratio = statistics.mean(wall[True]) / statistics.mean(wall[False])
    print(f"machine: {machine()}; spec {SPEC.name}, {args.trials} trials, {args.concurrent} at a "
          f"time, W&B disabled")
    print(table(["mode", *[f"round {r} (s)" for r in range(args.rounds)], "mean (s)",
                 "same trials every round"], rows))
    print(f"wall-time ratio reproducible / default: {ratio:.3f}")


if __name__ == "__main__":
    main()

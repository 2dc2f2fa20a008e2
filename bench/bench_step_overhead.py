"""DemP step time vs plain training of the same dense model, as a ratio measured in one run.

DemP here has regularization, noise and death checks on but removal off, so both runs train the
same dense network and the ratio is the pure overhead: noise, penalty gradient, and the death check
amortized over the prune interval. The two trainers alternate in blocks so machine noise hits both
equally; the death check is timed in the same run and amortized at the stated interval(s).

    python bench/bench_step_overhead.py [--device cpu|cuda] [--rounds 6] [--block 25]
        [--cases small_cnn resnet18]

Before/after: run it with ``PYTHONPATH=<older source tree>`` in alternation with the current
tree (the first line says which ``demp`` was measured).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import machine, table  # noqa: E402

from demp.config import TrainConfig  # noqa: E402
from demp.methods import build_trainer  # noqa: E402
from demp.train import Trainer  # noqa: E402

CASES = {
    "small_cnn/digits b64": {"model": {"name": "small_cnn"}, "data": {"name": "digits"}},
    "resnet18/cifar-shape b128": {
        "model": {"name": "resnet18"},
        "data": {"name": "synthetic", "batch_size": 128, "synthetic": {"train_size": 8192}},
    },
}


def trainer(base: dict, demp_on: bool, device: str, threads: int | None) -> Trainer:
    demp = ({"death": {"prune_interval": 10**9, "remove": False},
             "regularizer": {"peak": 1e-4}} if demp_on else {"enabled": False})
    cfg = TrainConfig.model_validate({**base, "demp": demp, "device": device, "epochs": 1000,
                                      "eval_interval": 10**9, "threads": threads})
    return build_trainer(cfg)


def measure(base: dict, device: str, rounds: int, block: int,
            threads: int | None) -> tuple[float, float, float]:
    """Seconds per step plain, per step DemP (without death checks), per death check."""
    plain, demp = trainer(base, False, device, threads), trainer(base, True, device, threads)
    for t in (plain, demp):  # warm-up (allocator, kernels) and the step-0 death check
        for _ in range(3):
            t.advance()
    times = {id(plain): 0.0, id(demp): 0.0}
    for _ in range(rounds):
        for t in (plain, demp):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(block):
                t.advance()
            if device == "cuda":
                torch.cuda.synchronize()
            times[id(t)] += time.perf_counter() - t0
    n = rounds * block
    checks = []
    death_check = demp.strategy.demp  # DemP's part of the method strategy
    for _ in range(3):
        death_check.last_checked = -1
        t0 = time.perf_counter()
        death_check.prune_dead(demp)
        if device == "cuda":
            torch.cuda.synchronize()
        checks.append(time.perf_counter() - t0)
    return times[id(plain)] / n, times[id(demp)] / n, min(checks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--block", type=int, default=25)
    ap.add_argument("--intervals", type=int, nargs="+", default=[100, 1000],
                    help="prune intervals to amortize the death check over (paper: 1000-5000)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (1 is steadier on a shared machine)")
    ap.add_argument("--cases", nargs="+", default=None,
                    help="case name prefixes to run (default: all)")
    args = ap.parse_args()
    cases = {k: v for k, v in CASES.items()
             if args.cases is None or any(k.startswith(c) for c in args.cases)}
    rows = []
    for name, base in cases.items():
        plain, demp, check = measure(base, args.device, args.rounds, args.block, args.threads)
        ratios = [f"{(demp + check / k) / plain:.3f}" for k in args.intervals]
        rows.append([name, f"{plain * 1e3:.2f}", f"{demp * 1e3:.2f}", f"{check * 1e3:.1f}",
                     f"{demp / plain:.3f}", *ratios])
    import demp as measured

    print(f"demp from {Path(measured.__file__).parent}")
    print(f"machine: {machine()}; {args.rounds}x{args.block} steps per side, alternating")
    print(table(["case", "plain ms/step", "DemP ms/step", "death check ms", "ratio (no check)",
                 *[f"ratio, check every {k}" for k in args.intervals]], rows))


if __name__ == "__main__":
    main()

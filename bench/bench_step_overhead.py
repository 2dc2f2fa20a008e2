"""DemP step time vs plain training of the same dense model, as a ratio measured in one run.

DemP here has regularization, noise and death checks on but removal off, so both runs train the
same dense network and the ratio is the pure overhead (noise, penalty gradient, amortized death
check). The two trainers alternate in blocks so machine noise hits both equally.

    python bench/bench_step_overhead.py [--device cpu|cuda] [--rounds 6] [--block 25]
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
from demp.train.trainer import Trainer  # noqa: E402

CASES = {
    "small_cnn/digits b64": {"model": {"name": "small_cnn"}, "data": {"name": "digits"}},
    "resnet18/cifar-shape b32": {
        "model": {"name": "resnet18"},
        "data": {"name": "synthetic", "batch_size": 32, "synthetic": {"train_size": 2048}},
    },
}
GPU_CASES = {
    "resnet18/cifar-shape b128": {
        "model": {"name": "resnet18"},
        "data": {"name": "synthetic", "batch_size": 128, "synthetic": {"train_size": 8192}},
    },
}


def trainer(base: dict, demp_on: bool, device: str, prune_interval: int) -> Trainer:
    demp = ({"death": {"prune_interval": prune_interval, "remove": False},
             "regularizer": {"peak": 1e-4}} if demp_on else {"enabled": False})
    cfg = TrainConfig.model_validate({**base, "demp": demp, "device": device, "epochs": 1000,
                                      "eval_interval": 10**9})
    return Trainer(cfg)


def measure(base: dict, device: str, rounds: int, block: int, interval: int) -> tuple[float, float]:
    plain, demp = trainer(base, False, device, interval), trainer(base, True, device, interval)
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
    return times[id(plain)] / n, times[id(demp)] / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--block", type=int, default=25)
    ap.add_argument("--prune-interval", type=int, default=50,
                    help="death-check interval (the paper uses 1000-5000 steps; 50 is harsher)")
    args = ap.parse_args()
    cases = dict(CASES, **(GPU_CASES if args.device == "cuda" else {}))
    rows = []
    for name, base in cases.items():
        plain, demp = measure(base, args.device, args.rounds, args.block, args.prune_interval)
        rows.append([name, f"{plain * 1e3:.2f}", f"{demp * 1e3:.2f}", f"{demp / plain:.3f}"])
    print(f"machine: {machine()}; death check every {args.prune_interval} steps; "
          f"{args.rounds}x{args.block} steps per side")
    print(table(["case", "plain ms/step", "DemP ms/step", "ratio DemP/plain"], rows))


if __name__ == "__main__":
    main()

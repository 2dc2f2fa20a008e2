"""Realized speedup of physical pruning, surgery time, and a whole DemP run against dense.

1. ResNet-18 on CIFAR shapes (synthetic data): at neural sparsities 0/50/80/90 % (the same
   fraction of units removed from every group, at random), the train-step time (forward,
   backward, AdamW step) of the pruned net against the dense one, measured alternately in one run.
   realized speedup = (dense step time / pruned step time) ÷ (dense FLOPs / pruned FLOPs).
2. Surgery time: removing 50 % of ResNet-18's units, AdamW state included.
3. Whole run: an MLP (2048-2048) on digits trained with DemP (removal on) and with DemP off,
   same config and steps.

    python bench/bench_surgery_speedup.py [--device cpu|cuda] [--batch 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _common import machine, table  # noqa: E402

from demp.config import ModelConfig, TrainConfig  # noqa: E402
from demp.methods import build_trainer  # noqa: E402
from demp.models import build_model  # noqa: E402
from demp.train.metrics import inference_flops, neural_sparsity  # noqa: E402
from demp.train.surgery import remove_dead  # noqa: E402

SHAPE = (3, 32, 32)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def random_dead(model, fraction: float, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dead = {}
    for name, ids in model.unit_ids.items():
        n = ids.numel()
        k = min(n - 1, int(round(fraction * n)))
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.randperm(n, generator=g)[:k]] = True
        dead[name] = mask
    return dead


class StepRunner:
    def __init__(self, model, device: str, batch: int, bf16: bool) -> None:
        self.model = model.to(device)
        if device == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.x = torch.randn(batch, *SHAPE, device=device)
        if device == "cuda":
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.y = torch.randint(0, 10, (batch,), device=device)
        self.device, self.bf16 = device, bf16

    def step(self) -> None:
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16):
            loss = F.cross_entropy(self.model(self.x).float(), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def time(self, n: int) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        for _ in range(n):
            self.step()
        _sync(self.device)
        return time.perf_counter() - t0


def speedups(device: str, batch: int, rounds: int, steps: int, bf16: bool) -> list[list[str]]:
    torch.manual_seed(0)
    base = build_model(ModelConfig(name="resnet18"), SHAPE, 10)
    dense = StepRunner(copy.deepcopy(base), device, batch, bf16)
    f_dense = inference_flops(dense.model, SHAPE)
    rows = []
    for sparsity in (0.0, 0.5, 0.8, 0.9):
        model = copy.deepcopy(base)
        remove_dead(model, random_dead(model, sparsity))
        pruned = StepRunner(model, device, batch, bf16)
        f_pruned = inference_flops(pruned.model, SHAPE)
        for r in (dense, pruned):
            r.time(2)  # warm-up
        t_dense = t_pruned = 0.0
        for _ in range(rounds):
            t_dense += dense.time(steps)
            t_pruned += pruned.time(steps)
        n = rounds * steps
        speed, fratio = t_dense / t_pruned, f_dense / f_pruned
        rows.append([f"{neural_sparsity(pruned.model):.2f}", f"{t_dense / n * 1e3:.1f}",
                     f"{t_pruned / n * 1e3:.1f}", f"{speed:.2f}", f"{fratio:.2f}",
                     f"{speed / fratio:.2f}"])
    return rows


def surgery_time() -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="resnet18"), SHAPE, 10)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(8, *SHAPE)).sum().backward()
    opt.step()
    dead = random_dead(model, 0.5)
    t0 = time.perf_counter()
    remove_dead(model, dead, opt)
    return time.perf_counter() - t0, neural_sparsity(model)


def whole_run(device: str) -> list[list[str]]:
    base = {"model": {"name": "mlp", "hidden": [2048, 2048]}, "data": {"name": "digits"},
            "optimizer": {"lr": 1e-2}, "epochs": 20, "device": device,
            "demp": {"regularizer": {"peak": 0.01}, "death": {"prune_interval": 50}}}
    rows = []
    results = {}
    for label, demp in (("dense (DemP off)", {"enabled": False}), ("DemP", base["demp"])):
        t = build_trainer(TrainConfig.model_validate({**base, "demp": demp}))
        t0 = time.perf_counter()
        s = t.fit()
        results[label] = time.perf_counter() - t0
        rows.append([label, str(s["step"]), f"{results[label]:.1f}", f"{s['test_acc']:.3f}",
                     f"{s['neural_sparsity']:.2f}", f"{s['param_sparsity']:.2f}"])
    rows.append(["speedup dense/DemP", "", f"{results['dense (DemP off)'] / results['DemP']:.2f}",
                 "", "", ""])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None, help="default 128 on GPU, 32 on CPU")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="steps per block (default 20 GPU, 2 CPU)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device == "cuda"
    batch = args.batch or (128 if gpu else 32)
    steps = args.steps or (20 if gpu else 2)
    print(f"machine: {machine()}")
    print(f"\nResNet-18, CIFAR shapes, batch {batch}, {args.rounds}x{steps} steps per side"
          + (", bf16" if args.bf16 else ""))
    print(table(["neural sparsity", "dense ms/step", "pruned ms/step", "step speedup",
                 "FLOPs ratio", "realized"], speedups(args.device, batch, args.rounds, steps,
                                                       args.bf16)))
    t, s = surgery_time()
    print(f"\nsurgery time, ResNet-18 on CPU, {s:.0%} of units removed with AdamW state: {t:.3f} s")
    print("\nwhole run: MLP 2048-2048 on digits, AdamW lr 1e-2, λ peak 0.01, 20 epochs, same steps")
    print(table(["run", "steps", "wall s", "test acc", "neural sparsity", "param sparsity"],
                whole_run(args.device)))


if __name__ == "__main__":
    main()

"""DemP step time vs plain training of the same dense model, as a ratio measured in one run.

DemP here has regularization, noise and death checks on but removal off, so both runs train the
same dense network and the ratio is the pure overhead: noise, penalty gradient, and the death check
amortized over the prune interval. The two trainers alternate in blocks so machine noise hits both
equally; the death check is timed in the same run and amortized at the stated interval(s). The
noise draw alone (reseed + one ``normal_`` over all parameters, DemP's own stream) is timed between
the blocks: ``draw floor`` = 1 + draw / plain step, the ratio DemP cannot go under without a
different random stream. ``--without-draw`` adds a third trainer to the alternation: DemP with
every part of its step but the draw (ξ stays zero, so θ is unchanged by the noise while the mask
read, the multiply and the add all run): ``ratio without draw`` is what DemP's step would cost
with a random stream that took no time.

    python bench/bench_step_overhead.py [--device cpu|cuda] [--rounds 6] [--block 25]
        [--cases small_cnn resnet18] [--without-draw]

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
from demp.train.noise import LiveNoise  # noqa: E402

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


class WithoutDraw(LiveNoise):
    """``LiveNoise`` with a zero ξ that is never drawn: every other kernel of the step runs."""

    def _rebuild(self, params: list[torch.nn.Parameter]) -> None:
        super()._rebuild(params)
        if self._xi is not None:
            self._xi.zero_()

    @torch.no_grad()
    def apply(self, sigma: float, generator: torch.Generator) -> None:
        ready, self._ready = self._ready, False
        self._fallback = None
        if not ready or sigma == 0.0 or self._xi is None:
            return
        self._xi.mul_(self._mask)
        torch._foreach_add_(self._params, self._xi_views, alpha=sigma)


def draw_seconds(model: torch.nn.Module, device: str, block: int) -> float:
    """Seconds for ``block`` of the draws DemP's noise makes each step: a reseed and one flat
    ``normal_`` over every trained parameter. No faster draw gives the same stream, so 1 + this
    / plain step is the lowest ratio DemP's step can reach (the "draw floor" column)."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buf = torch.empty(n, device=device)
    gen = torch.Generator(device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(block):
        gen.manual_seed(step + 17)
        buf.normal_(generator=gen)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def measure(base: dict, device: str, rounds: int, block: int, threads: int | None,
            without_draw: bool = False) -> tuple[float, float, float, float, float | None]:
    """Seconds per step plain, per step DemP (without death checks), per death check, per
    noise draw alone (timed between the blocks, so the caches see what a step leaves them), and
    per step of DemP without the draw (None unless asked)."""
    plain, demp = trainer(base, False, device, threads), trainer(base, True, device, threads)
    trainers = [plain, demp]
    if without_draw:
        nodraw = trainer(base, True, device, threads)
        nodraw.strategy.demp._noise = WithoutDraw()
        trainers.append(nodraw)
    for t in trainers:  # warm-up (allocator, kernels) and the step-0 death check
        for _ in range(3):
            t.advance()
    times = {id(t): 0.0 for t in trainers}
    draws = 0.0
    for _ in range(rounds):
        for t in trainers:
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(block):
                t.advance()
            if device == "cuda":
                torch.cuda.synchronize()
            times[id(t)] += time.perf_counter() - t0
        draws += draw_seconds(demp.model, device, block)
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
    rest = times[id(trainers[2])] / n if without_draw else None
    return times[id(plain)] / n, times[id(demp)] / n, min(checks), draws / n, rest


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
    ap.add_argument("--without-draw", action="store_true",
                    help="also time DemP's step without the noise draw (ratio without draw)")
    args = ap.parse_args()
    cases = {k: v for k, v in CASES.items()
             if args.cases is None or any(k.startswith(c) for c in args.cases)}
    rows = []
    for name, base in cases.items():
        plain, demp, check, draw, rest = measure(base, args.device, args.rounds, args.block,
                                                 args.threads, args.without_draw)
        ratios = [f"{(demp + check / k) / plain:.3f}" for k in args.intervals]
        rows.append([name, f"{plain * 1e3:.2f}", f"{demp * 1e3:.2f}", f"{check * 1e3:.1f}",
                     f"{draw * 1e3:.3f}", f"{demp / plain:.3f}", f"{1 + draw / plain:.3f}",
                     *([f"{rest / plain:.3f}"] if rest is not None else []), *ratios])
    import demp as measured

    print(f"demp from {Path(measured.__file__).parent}")
    print(f"machine: {machine()}; {args.rounds}x{args.block} steps per side, alternating")
    print(table(["case", "plain ms/step", "DemP ms/step", "death check ms", "noise draw ms",
                 "ratio (no check)", "draw floor",
                 *(["ratio without draw"] if args.without_draw else []),
                 *[f"ratio, check every {k}" for k in args.intervals]], rows))


if __name__ == "__main__":
    main()

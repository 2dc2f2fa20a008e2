"""The DemP training loop.

One step: data loss backward → read which entries got a non-zero gradient → add λ_t·∂R/∂θ →
optimizer step → LR step → θ += σ_t·ξ on those entries. Every ``prune_interval`` steps (and at
step 0 and the end) dead units are detected and removed. Everything else (Ray, W&B, progress
bars, files) attaches through callbacks. A structured baseline (``method`` snap, crop_it,
early_*, slimming; ``demp.baselines``) runs with DemP off and hooks in at the same two points:
before each step (where the death check sits, and once at the end) and before the optimizer step.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demp.baselines.methods import build_baseline
from demp.baselines.methods import resolve as resolve_method
from demp.config import TrainConfig, validate
from demp.data import Data, build_data, steps_for
from demp.models import PrunableNet, build_model
from demp.train import checkpoint as ckpt
from demp.train.callbacks import Callback, CallbackList
from demp.train.controller import (
    SparsityController, capped_dead, sparsity_measure, target_fraction,
)
from demp.train.death import check_units
from demp.train.fold import can_fold, fold_constant_units
from demp.train.metrics import count_parameters, inference_flops, neural_sparsity, per_layer_units
from demp.train.noise import NoiseBuffer, add_noise, live_masks
from demp.train.regularize import add_penalty_grad, penalty, regularized_parameters
from demp.train.schedules import demp_schedule, lr_factor
from demp.train.surgery import remove_dead


class TrainingDiverged(RuntimeError):
    """The loss became NaN / inf or exceeded ``divergence_loss``."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda requested but no CUDA device is available")
    return torch.device(name)


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    o = cfg.optimizer
    params = list(model.parameters())
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                           weight_decay=o.weight_decay)


class JsonlLog(Callback):
    """metrics.jsonl (one line per evaluation) and prune_events.jsonl in the output directory."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.metrics = directory / "metrics.jsonl"
        self.events = directory / "prune_events.jsonl"

    def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        with self.metrics.open("a") as f:
            f.write(json.dumps(metrics) + "\n")

    def on_prune(self, trainer: Trainer, event: dict[str, Any]) -> None:
        with self.events.open("a") as f:
            f.write(json.dumps(event) + "\n")


class Trainer:
    """Trains one DemP run. ``fit()`` returns the final metrics record."""

    def __init__(self, cfg: TrainConfig | dict[str, Any], callbacks: list[Callback] | None = None,
                 resume_from: str | Path | None = None, data: Data | None = None) -> None:
        # the method's preset (an ablation's switch, DemP off for a baseline) applied: the
        # config saved and logged is the one that runs
        self.cfg = resolve_method(cfg if isinstance(cfg, TrainConfig)
                                  else validate(TrainConfig, cfg))
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.device = resolve_device(cfg.device)
        self.data = data or build_data(cfg.data, self.device)
        self.steps_per_epoch = self.data.steps_per_epoch
        self.total_steps = cfg.max_steps or steps_for(cfg.epochs, self.steps_per_epoch)
        self.eval_interval = cfg.eval_interval or self.steps_per_epoch
        torch.manual_seed(cfg.seed)
        self.model: PrunableNet = build_model(cfg.model, self.data.input_shape,
                                              self.data.num_classes).to(self.device)
        self.use_cuda = self.device.type == "cuda"
        if self.use_cuda and cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.initial_params = count_parameters(self.model)
        self.initial_flops = inference_flops(self.model, self.data.input_shape)
        self.controller = (SparsityController(cfg.demp.target,
                                              cfg.demp.schedule.span_fraction * self.total_steps)
                           if cfg.demp.enabled and cfg.demp.target is not None else None)
        self.optimizer = build_optimizer(cfg, self.model)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(cfg.lr_schedule, s, self.total_steps, self.steps_per_epoch),
        )
        self.step = 0
        self.train_flops = 0.0
        self.train_time = 0.0
        self.callbacks = CallbackList(list(callbacks or []))
        if cfg.output_dir is not None:
            self.callbacks.callbacks.insert(0, JsonlLog(Path(cfg.output_dir)))
        self._stop = False
        self._last_checked = -1
        self._interval_start, self._interval_steps = time.perf_counter(), 0
        # a structured baseline (SNAP, CroP-it, early variants, slimming), None for DemP methods
        self.baseline = build_baseline(cfg)
        if resume_from is not None:
            self._load(resume_from)
        self.flops = inference_flops(self.model, self.data.input_shape)
        self._noise_gen = torch.Generator(device=self.device)
        self._noise_buffer = NoiseBuffer()
        # Surgery slices parameters in place, so this list stays valid across prune events.
        self._reg_params = regularized_parameters(self.model, self.demp.regularizer.target)

    # ----------------------------------------------------------------------------- schedules
    @property
    def demp(self):  # noqa: ANN201 - shorthand for the config section
        return self.cfg.demp

    def lam(self, step: int) -> float:
        r = self.demp.regularizer
        if not (self.demp.enabled and r.enabled):
            return 0.0
        peak = r.peak * (self.controller.scale if self.controller is not None else 1.0)
        return demp_schedule(self.demp.schedule, peak, step, self.total_steps)

    def sigma(self, step: int) -> float:
        n = self.demp.noise
        if not (self.demp.enabled and n.enabled):
            return 0.0
        return demp_schedule(self.demp.schedule, n.peak, step, self.total_steps)

    @property
    def death_enabled(self) -> bool:
        return self.demp.enabled and self.demp.death.enabled

    def request_stop(self) -> None:
        """Ask fit() to return after the current step (used by schedulers and signals)."""
        self._stop = True

    # ----------------------------------------------------------------------------- the loop
    def fit(self) -> dict[str, Any]:
        self.model.train()
        self.callbacks.on_train_start(self)
        self._interval_start, self._interval_steps = time.perf_counter(), 0
        while self.step < self.total_steps and not self._stop:
            self.advance()
        return self.finish()

    def advance(self) -> float:
        """One iteration of the loop: the death check if due, one step, an evaluation if due."""
        if self.baseline is not None:
            self.baseline.before_step(self)
        if self.death_enabled and self.step % self.demp.death.prune_interval == 0:
            self.prune_dead()
        t0 = time.perf_counter()
        loss = self.train_step()
        self.train_time += time.perf_counter() - t0
        self._interval_steps += 1
        self.callbacks.on_step(self, self.step, loss)
        if self.step % self.eval_interval == 0 and self.step < self.total_steps:
            metrics = self.evaluate(self._mean_step_time(), loss)
            self.callbacks.on_eval(self, metrics)
            self._maybe_checkpoint()
            self._interval_start, self._interval_steps = time.perf_counter(), 0
        return loss

    def _mean_step_time(self) -> float:
        if self.use_cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - self._interval_start) / max(1, self._interval_steps)

    def finish(self) -> dict[str, Any]:
        """The end-of-training death check, final evaluation, final model and on_end."""
        if self.baseline is not None and self.step >= self.total_steps:
            self.baseline.before_step(self)
        if self.death_enabled and self.step >= self.total_steps:
            self.prune_dead()
        summary = self.evaluate(self._mean_step_time(), getattr(self, "_last_loss", float("nan")))
        summary["final"] = True
        summary["stopped_early"] = self.step < self.total_steps
        self.callbacks.on_eval(self, summary)
        if self.cfg.output_dir is not None:
            path = self.save_checkpoint(Path(self.cfg.output_dir) / "model")
            self.callbacks.on_checkpoint(self, path)
        self.callbacks.on_end(self, summary)
        return summary

    def train_step(self) -> float:
        cfg, step = self.cfg, self.step
        x, y = self.data.train_batch(step, cfg.seed)
        if self.use_cuda and cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        lam, sigma = self.lam(step), self.sigma(step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.use_cuda and cfg.precision == "bf16"):
            logits = self.model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = float(loss.detach())
        if not math.isfinite(value) or value > cfg.divergence_loss:
            raise TrainingDiverged(f"training loss is {value} at step {step}"
                                   + ("" if math.isfinite(value) else " (not finite)")
                                   + f"; divergence_loss={cfg.divergence_loss}")
        params = None
        masks = None
        if sigma > 0:
            params = [p for p in self.model.parameters() if p.grad is not None]
            masks = live_masks(params)
        if lam > 0:
            add_penalty_grad(self._reg_params, self.demp.regularizer.kind, lam)
        if self.baseline is not None:
            self.baseline.before_optimizer_step(self)
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.lr_scheduler.step()
        if params is not None:
            self._noise_gen.manual_seed((cfg.seed * 1_000_003 + step) % 2**62 + 17)
            add_noise(params, masks, sigma, self._noise_gen, self._noise_buffer)
        self.train_flops += 3.0 * self.flops * len(y)
        self.step += 1
        self._last_loss = value
        return value

    # ----------------------------------------------------------------------------- pruning
    def prune_dead(self) -> dict[str, Any] | None:
        """Detect dead units and (unless ``death.remove`` is off) remove them; once per step."""
        if self._last_checked == self.step:
            return None
        self._last_checked = self.step
        d = self.demp.death
        t0 = time.perf_counter()
        check = check_units(self.model, lambda: self.data.death_samples(d.samples))
        dead = check.dead(d.epsilon)
        detect_time = time.perf_counter() - t0
        dead_counts = {g: int(m.sum()) - (1 if g in self.model.placeholder_groups else 0)
                       for g, m in dead.items()}
        event: dict[str, Any] = {"step": self.step, "dead": dead_counts,
                                 "detect_time": detect_time}
        always_on = self._always_on(check, dead) if d.fold_constant else {}
        remove = {g: m | always_on[g][0] if g in always_on else m for g, m in dead.items()}
        if self.controller is not None:
            target = target_fraction(self.demp.target, self.initial_flops)
            measure = sparsity_measure(self.demp.target.metric, self.initial_params,
                                       self.initial_flops,
                                       sum(self.model.initial_units().values()),
                                       self.data.input_shape)
            remove, capped = capped_dead(self.model, remove, target, measure)
        if d.fold_constant:
            event["always_on"] = {g: int((remove[g] & mask).sum())
                                  for g, (mask, _) in always_on.items()}
        if d.remove and any(bool(m.any()) for g, m in remove.items()
                            if g not in self.model.placeholder_groups):
            t1 = time.perf_counter()
            for g, (mask, values) in always_on.items():
                fold = remove[g] & mask
                if fold.any():
                    units = torch.nonzero(fold).flatten()
                    fold_constant_units(self.model, g, units, values[units])
            report = remove_dead(self.model, remove, self.optimizer)
            if self.use_cuda:
                torch.cuda.synchronize()
            event["surgery_time"] = time.perf_counter() - t1
            event["removed"] = report.removed
            event["messages"] = report.messages()
            self.flops = inference_flops(self.model, self.data.input_shape)
        else:
            event["removed"] = {g: 0 for g in dead}
            event["messages"] = []
        event["live_units"] = self.model.live_units()
        if self.controller is not None:
            event["target_sparsity"] = target
            event["measured_sparsity"] = measure(self.model)
            event["lam_scale"] = self.controller.update(self.step, event["measured_sparsity"],
                                                        target, capped)
        self.callbacks.on_prune(self, event)
        return event

    def _always_on(self, check, dead: dict[str, torch.Tensor]) -> dict[str, tuple]:
        """Always-on units that are not dead, per group whose consumers allow an exact fold:
        (mask, constant value per unit)."""
        out = {}
        for g, (mask, values) in check.constant(self.demp.death.constant_tolerance).items():
            if g in self.model.placeholder_groups or not can_fold(self.model, g):
                continue
            out[g] = (mask & ~dead[g], values)
        return out

    # ----------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def _evaluate_split(self, split) -> tuple[float, float]:
        self.model.eval()
        correct, loss_sum, n = 0, 0.0, 0
        try:
            for x, y in split:
                if self.use_cuda and self.cfg.channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                    enabled=self.use_cuda and self.cfg.precision == "bf16"):
                    logits = self.model(x).float()
                loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
                n += len(y)
        finally:
            self.model.train()
        return (correct / n, loss_sum / n) if n else (float("nan"), float("nan"))

    def evaluate(self, step_time: float, train_loss: float) -> dict[str, Any]:
        """The metrics record: accuracies, sparsities, FLOPs, per-layer units, schedules."""
        val_acc, val_loss = self._evaluate_split(self.data.val)
        test_acc, test_loss = self._evaluate_split(self.data.test)
        live, dead_frac = per_layer_units(self.model)
        params = count_parameters(self.model)
        at = max(0, self.step - 1)
        return {
            "step": self.step,
            "total_steps": self.total_steps,
            "progress": self.step / self.total_steps,
            "epoch": self.step / self.steps_per_epoch,
            "val_acc": val_acc,
            "val_loss": val_loss,
            "test_acc": test_acc,
            "test_loss": test_loss,
            "train_loss": train_loss,
            "neural_sparsity": neural_sparsity(self.model),
            "param_sparsity": 1.0 - params / self.initial_params,
            "params": params,
            "flops": self.flops,
            "train_flops": self.train_flops,
            "step_time": step_time,
            "train_time": self.train_time,
            "lr": self.optimizer.param_groups[0]["lr"],
            "lam": self.lam(at),
            "sigma": self.sigma(at),
            "regularizer": penalty(self._reg_params, self.demp.regularizer.kind),
            "lam_scale": self.controller.scale if self.controller is not None else 1.0,
            "live_units": live,
            "dead_fraction": dead_frac,
            "final": False,
        }

    # ----------------------------------------------------------------------------- checkpoints
    def _maybe_checkpoint(self) -> None:
        if self.cfg.output_dir is None:
            return
        every = self.cfg.checkpoint_interval
        if every is None or self.step % every == 0 or self.step < every:
            path = self.save_checkpoint(Path(self.cfg.output_dir) / "checkpoint")
            self.callbacks.on_checkpoint(self, path)

    def save_checkpoint(self, directory: str | Path) -> str:
        """Everything needed to resume identically, readable with ``weights_only=True``."""
        payload = {
            "format": ckpt.FORMAT_VERSION,
            "config": self.cfg.model_dump(mode="json"),
            "input_shape": list(self.data.input_shape),
            "num_classes": self.data.num_classes,
            "architecture": ckpt.architecture_state(self.model),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "step": self.step,
            "train_flops": self.train_flops,
            "train_time": self.train_time,
            "last_checked": self._last_checked,
            "initial_params": self.initial_params,
            "initial_flops": self.initial_flops,
            "controller": self.controller.state_dict() if self.controller is not None else None,
            "baseline": self.baseline.state_dict() if self.baseline is not None else None,
            "rng": ckpt.rng_state(),
        }
        return ckpt.save(directory, payload)

    def _load(self, directory: str | Path) -> None:
        data = ckpt.read(directory)
        model = ckpt.rebuild_model(self.cfg, data["architecture"], self.data.input_shape,
                                   self.data.num_classes)
        model.load_state_dict(data["model"])
        self.model = model.to(self.device)
        if self.use_cuda and self.cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.cfg, self.model)
        self.optimizer.load_state_dict(data["optimizer"])
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(self.cfg.lr_schedule, s, self.total_steps, self.steps_per_epoch),
        )
        self.lr_scheduler.load_state_dict(data["lr_scheduler"])
        self.step = int(data["step"])
        self.train_flops = float(data["train_flops"])
        self.train_time = float(data["train_time"])
        self._last_checked = int(data["last_checked"])
        self.initial_params = int(data["initial_params"])
        self.initial_flops = int(data["initial_flops"])
        if self.controller is not None and data.get("controller"):
            self.controller.load_state_dict(data["controller"])
        if self.baseline is not None and data.get("baseline") is not None:
            self.baseline.load_state_dict(data["baseline"])
        ckpt.set_rng_state(data["rng"])

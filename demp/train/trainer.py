"""The training loop, which knows no pruning method.

One step: the strategy's ``before_step`` → forward, loss, backward → ``before_optimizer_step`` →
clipping, optimizer step, LR step → ``after_optimizer_step``; an evaluation every
``eval_interval`` steps, a checkpoint at the cadence ``checkpoint_due`` says. What a method does
(DemP's penalty, noise and death checks; a baseline's pruning) arrives as one
``TrainingStrategy`` (``demp.train.strategy``), picked for ``cfg.method`` by
``demp.methods.build_trainer``; everything that only observes (Ray, W&B, progress bars, files)
attaches through callbacks. A strategy changes the network only through ``apply_surgery`` and
announces it through ``emit_prune``.

A trainer starts fresh, continues a checkpoint exactly (``resume_from``: weights, optimizer, LR
schedule, step, RNG) or starts from a checkpoint's trained, pruned network (``init_from``: the
architecture and weights, everything else fresh, the optimizer's moments only when asked) — the
last is what fine-tuning an exported model needs, with its own step count and schedules.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demp.config import TrainConfig, validate
from demp.data import Data, build_data, steps_for
from demp.models import PrunableNet, build_model
from demp.train import checkpoint as ckpt
from demp.train.cadence import checkpoint_due
from demp.train.callbacks import Callback, CallbackList
from demp.train.metrics import count_parameters, inference_flops, neural_sparsity, per_layer_units
from demp.train.optim import build_optimizer
from demp.train.rundir import JsonlLog
from demp.train.schedules import lr_factor
from demp.train.strategy import TrainingStrategy
from demp.train.surgery import SurgeryReport, remove_dead


class TrainingDiverged(RuntimeError):
    """The loss became NaN / inf or exceeded ``divergence_loss``."""


class DeviceUnavailable(RuntimeError):
    """The config asks for a device this machine does not have."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device: cuda requested but no CUDA device is available; use "
                                "device cpu or auto")
    return torch.device(name)


class Trainer:
    """Trains one run with the given strategy. ``fit()`` returns the final metrics record.

    Build it with ``demp.methods.build_trainer(cfg)``, which applies the method's preset to
    ``cfg`` and attaches the method's strategy; ``Trainer`` itself reads no method setting.
    """

    def __init__(self, cfg: TrainConfig | dict[str, Any], callbacks: list[Callback] | None = None,
                 resume_from: str | Path | None = None, data: Data | None = None, *,
                 strategy: TrainingStrategy, init_from: str | Path | None = None,
                 keep_optimizer: bool = False) -> None:
        if resume_from is not None and init_from is not None:
            raise ValueError("resume_from and init_from exclude each other: a run either continues "
                             "a checkpoint or starts from its network")
        self.cfg = cfg if isinstance(cfg, TrainConfig) else validate(TrainConfig, cfg)
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
        self._interval_start, self._interval_steps = time.perf_counter(), 0
        self._last_checkpoint = time.perf_counter()
        self.strategy = strategy
        strategy.attach(self)
        self.preprocessing = self.data.preprocessing()
        self.init_from = None if init_from is None else str(init_from)
        if resume_from is not None:
            self._load(resume_from)
        elif init_from is not None:
            self._start_from(init_from, keep_optimizer)
        self.flops = inference_flops(self.model, self.data.input_shape)

    # ----------------------------------------------------------------------------- public API
    def apply_surgery(self, remove: dict[str, torch.Tensor]) -> SurgeryReport:
        """Physically remove the units marked in ``remove`` (positions in the current network),
        with the optimizer state sliced alike, and recount the inference FLOPs. Groups without a
        marked unit, and placeholder groups, are not touched."""
        report = remove_dead(self.model, remove, self.optimizer)
        if self.use_cuda:
            torch.cuda.synchronize()
        self.flops = inference_flops(self.model, self.data.input_shape)
        return report

    def emit_prune(self, event: dict[str, Any]) -> None:
        """Announce a death check or pruning to every callback (``on_prune``)."""
        self.callbacks.on_prune(self, event)

    def request_stop(self) -> None:
        """Ask fit() to return after the current step (used by schedulers and signals)."""
        self._stop = True

    # ----------------------------------------------------------------------------- the loop
    def fit(self) -> dict[str, Any]:
        self.model.train()
        self.callbacks.on_train_start(self)
        self._interval_start, self._interval_steps = time.perf_counter(), 0
        self._last_checkpoint = self._interval_start
        while self.step < self.total_steps and not self._stop:
            self.advance()
        return self.finish()

    def advance(self) -> float:
        """One iteration of the loop: the strategy's pre-step work (DemP's death check when due),
        one step, an evaluation if due."""
        self.strategy.before_step(self)
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
        """The strategy's end-of-training work (DemP's last death check), final evaluation, final
        model and on_end."""
        if self.step >= self.total_steps:
            self.strategy.before_step(self)
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
        self.strategy.before_optimizer_step(self)
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.strategy.after_optimizer_step(self)
        self.train_flops += 3.0 * self.flops * len(y)
        self.step += 1
        self._last_loss = value
        return value

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
        record = {
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
            # the method's entries (DemP: lam, sigma, regularizer, lam_scale) follow the lr
            **self.strategy.record(self),
        }
        record.update(live_units=live, dead_fraction=dead_frac, final=False)
        return record

    # ----------------------------------------------------------------------------- checkpoints
    def _maybe_checkpoint(self) -> None:
        if self.cfg.output_dir is None:
            return
        since = time.perf_counter() - self._last_checkpoint
        if checkpoint_due(self.step, self.cfg.checkpoint_interval, since_last_s=since,
                               period_s=self.cfg.checkpoint_period_s):
            path = self.save_checkpoint(Path(self.cfg.output_dir) / "checkpoint")
            self._last_checkpoint = time.perf_counter()
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
            "initial_params": self.initial_params,
            "initial_flops": self.initial_flops,
            "preprocessing": self.preprocessing,  # what load_export applies to raw inputs
            "init_from": self.init_from,
            **self.strategy.state_dict(),  # a method's state: DemP's last_checked, controller …
            "rng": ckpt.rng_state(),
        }
        return ckpt.save(directory, payload)

    def _restore_network(self, data: dict[str, Any]) -> None:
        """The checkpoint's (pruned) network, and a fresh optimizer and LR schedule for it."""
        if list(data["input_shape"]) != list(self.data.input_shape) \
                or int(data["num_classes"]) != self.data.num_classes:
            raise RuntimeError(f"the checkpoint's inputs {tuple(data['input_shape'])} with "
                               f"{data['num_classes']} classes do not match the data's "
                               f"{self.data.input_shape} with {self.data.num_classes}")
        model = ckpt.rebuild_model(self.cfg, data["architecture"], self.data.input_shape,
                                   self.data.num_classes)
        model.load_state_dict(data["model"])
        self.model = model.to(self.device)
        if self.use_cuda and self.cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.cfg, self.model)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(self.cfg.lr_schedule, s, self.total_steps, self.steps_per_epoch),
        )
        # sparsities stay relative to the dense network the checkpoint's run started from
        self.initial_params = int(data["initial_params"])
        self.initial_flops = int(data["initial_flops"])

    def _load(self, directory: str | Path) -> None:
        data = ckpt.read(directory)
        self._restore_network(data)
        self.optimizer.load_state_dict(data["optimizer"])
        self.lr_scheduler.load_state_dict(data["lr_scheduler"])
        self.step = int(data["step"])
        self.train_flops = float(data["train_flops"])
        self.train_time = float(data["train_time"])
        self.init_from = data.get("init_from")
        self.strategy.load_state_dict(data)
        ckpt.set_rng_state(data["rng"])

    def _start_from(self, directory: str | Path, keep_optimizer: bool) -> None:
        """The checkpoint's network at step 0 of this run. With ``keep_optimizer`` the
        optimizer's per-parameter state (Adam moments, momentum) carries over; its settings
        (lr, betas, weight decay) are this config's either way."""
        data = ckpt.read(directory)
        self._restore_network(data)
        if keep_optimizer:
            saved = data["config"]["optimizer"]["name"]
            if saved != self.cfg.optimizer.name:
                raise RuntimeError(f"keep_optimizer: the checkpoint's optimizer is {saved}, this "
                                   f"run's is {self.cfg.optimizer.name}")
            state = self.optimizer.state_dict()
            state["state"] = data["optimizer"]["state"]
            self.optimizer.load_state_dict(state)

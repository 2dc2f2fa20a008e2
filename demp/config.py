"""Validated configuration for the DemP trainer.

Every config crosses process boundaries as a plain dict (``model_dump()``) and is re-validated on
the other side, so these models are the single source of truth for what a run means. All models
forbid unknown keys so that a typo in a YAML file is an error, not a silently ignored setting.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from demp import dotted
from demp.errors import ConfigError, InputFileError, format_validation_error, shown
from demp.registry import MethodName, preset_value
from demp.yamlfile import YamlProblem, load_mapping, parse_yaml

PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]

# Beyond these a value is a crash (or a run without end) in torch, numpy, Ray or W&B, not a
# setting: seeds fit int64 (W&B), steps stay far below 2**53, threads are C ints in torch.
SEED_MAX, STEPS_MAX, WIDTH_MAX, SAMPLES_MAX = 2**63 - 1, 10**12, 65_536, 10**8
MLP_WEIGHTS_MAX = SYNTHETIC_VALUES_MAX = 2**31  # 8 GiB of float32
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
Steps = Annotated[int, Field(ge=1, le=STEPS_MAX)]
DATASET_INPUT_VALUES = {"digits": 64, "cifar10": 3072, "cifar100": 3072, "imagenet": 150528}

ModelName = Literal[
    "mlp",
    "small_cnn",
    "vgg11",
    "vgg16",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet18_imagenet",
    "resnet50_imagenet",
]
ScheduleShape = Literal["one_cycle", "constant", "warmup", "cosine_decay", "linear_decay"]


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors and assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModelConfig(StrictModel):
    """Which network to train; ``num_classes`` and input shape come from the dataset."""

    name: ModelName = "mlp"
    width: PositiveFloat = Field(1.0, le=16, description="Width multiplier applied to every layer.")
    activation: Literal["relu", "leaky_relu", "silu"] = "relu"
    hidden: list[Annotated[int, Field(ge=1, le=WIDTH_MAX)]] = Field(
        default_factory=lambda: [256, 256],
        description="Hidden widths of the MLP (before the width multiplier).",
    )
    norm: bool = Field(True, description="Batch normalization after every conv / hidden linear.")
    zero_init_residual: bool = Field(
        False, description="Initialize the last BN scale of each residual block to 0."
    )


class SyntheticConfig(StrictModel):
    """Random tensors of a chosen shape: for throughput benchmarks, not for accuracy."""

    shape: tuple[Annotated[int, Field(ge=1, le=WIDTH_MAX)], ...] = Field(
        (3, 32, 32), min_length=1, max_length=8)
    num_classes: Annotated[int, Field(ge=2, le=1_000_000)] = 10
    train_size: Annotated[int, Field(ge=1, le=SAMPLES_MAX)] = 4096
    test_size: Annotated[int, Field(ge=2, le=SAMPLES_MAX)] = 512

    @model_validator(mode="after")
    def _fits_in_memory(self) -> "SyntheticConfig":
        values = (self.train_size + self.test_size) * math.prod(self.shape)
        if values > SYNTHETIC_VALUES_MAX:
            raise PydanticCustomError(
                "field", f"train_size: (train_size + test_size) x prod(shape) = {values} values, "
                f"more than {SYNTHETIC_VALUES_MAX} (generated at once, 4 bytes each)")
        return self


class DataConfig(StrictModel):
    name: Literal["digits", "cifar10", "cifar100", "imagenet", "synthetic"] = "digits"
    data_dir: Path | None = Field(None, description="Where cifar/imagenet data lives.")
    download: bool = Field(False, description="Let torchvision download CIFAR if missing.")
    val_fraction: float = Field(
        0.1, ge=0, lt=1, description="Fraction of the training set held out for validation."
    )
    split_seed: Seed = Field(0, description="Seed of the train/val(/test) split, fixed per sweep.")
    batch_size: Annotated[int, Field(ge=1, le=SAMPLES_MAX)] = 64
    eval_batch_size: Annotated[int, Field(ge=1, le=SAMPLES_MAX)] = 512
    augment: bool = Field(True, description="Pad-crop-flip for CIFAR, standard for ImageNet.")
    num_workers: Annotated[int, Field(ge=0, le=256)] = 0
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)


class OptimizerConfig(StrictModel):
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: PositiveFloat = 1e-3
    weight_decay: float = Field(5e-4, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    nesterov: bool = False
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.999,
    )


class LRScheduleConfig(StrictModel):
    """Learning-rate schedule, stepped once per optimizer step."""

    name: Literal["constant", "step", "cosine", "one_cycle", "warmup"] = "constant"
    milestones: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=list, description="Epochs at which `step` multiplies the lr by `factor`."
    )
    factor: float = Field(0.2, gt=0, le=1)
    pct_start: float = Field(0.3, gt=0, lt=1, description="Rise fraction of `one_cycle`.")
    warmup_fraction: float = Field(0.05, ge=0, le=1, description="Warm-up fraction of `warmup`.")
    final_fraction: float = Field(
        0.0, ge=0, le=1, description="lr at the end of cosine / warmup, as a fraction of lr."
    )


class ScheduleConfig(StrictModel):
    """Shared shape of the λ_t and σ_t schedules (each has its own peak)."""

    shape: ScheduleShape = "one_cycle"
    pct_start: float = Field(0.3, gt=0, lt=1, description="Rise fraction of one_cycle.")
    span_fraction: Fraction = Field(0.9, description="Schedule span as a fraction of all steps.")


class RegularizerConfig(StrictModel):
    enabled: bool = True
    kind: Literal["l1", "l2"] = "l1"
    target: Literal["norm_scales", "norm_params", "all_weights"] = Field(
        "norm_scales", description="norm_scales: γ of every normalization layer (the paper's); "
        "norm_params: γ and β (the official code's normalization-parameters option); "
        "all_weights: every weight tensor.")
    peak: float = Field(1e-3, ge=0, description="Peak λ of the regularization schedule.")


class NoiseConfig(StrictModel):
    enabled: bool = True
    peak: float = Field(5e-5, ge=0, description="Peak σ (a standard deviation, not lr-scaled).")


class DeathConfig(StrictModel):
    """Dead-unit detection and what happens to dead units."""

    enabled: bool = True
    prune_interval: Steps = 1000
    epsilon: float = Field(0.0, ge=0, description="A unit is dead when Σ|activation| ≤ ε.")
    samples: Annotated[int, Field(ge=1, le=SAMPLES_MAX)] = 1536
    remove: bool = Field(True, description="Physically remove dead units (else only count them).")
    fold_constant: bool = Field(
        False, description="Also remove always-on units (the same output on every death sample) "
        "where that is exact, by folding their constant into the consumers' biases.")
    constant_tolerance: float = Field(
        1e-2, ge=0, lt=1, description="An always-on unit's output range may be at most this "
        "fraction of the mean range of its layer's units (0: exactly constant only).")


class TargetConfig(StrictModel):
    """Reach a sparsity (or a FLOPs budget) by the end of the λ span without searching λ.

    λ's peak is scaled online by a controller on the measured sparsity, and no prune event
    removes units past the target.
    """

    metric: Literal["param_sparsity", "neural_sparsity", "flops"] = "param_sparsity"
    value: float = Field(..., gt=0, description="Sparsity in (0, 1), or FLOPs per sample.")
    gain: float = Field(3.0, gt=0, le=10, description="Controller gain per prune event.")
    ramp_fraction: float = Field(
        0.6, gt=0, le=1, description="Fraction of the λ span by which the target should be met."
    )

    @model_validator(mode="after")
    def _sparsity_below_one(self) -> "TargetConfig":
        if self.metric != "flops" and self.value >= 1:
            raise PydanticCustomError("field", "value: a sparsity target must be below 1")
        return self


class DemPConfig(StrictModel):
    """Demon Pruning; each part switches off on its own for ablations."""

    enabled: bool = True
    regularizer: RegularizerConfig = Field(default_factory=RegularizerConfig)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    death: DeathConfig = Field(default_factory=DeathConfig)
    target: TargetConfig | None = Field(
        None, description="Target-sparsity mode: adapt λ online to reach this target."
    )

    @model_validator(mode="after")
    def _target_needs_removal(self) -> "DemPConfig":
        if self.target is not None and self.enabled:
            if not (self.death.enabled and self.death.remove):
                raise PydanticCustomError(
                    "field", "target: target-sparsity mode needs death.enabled and death.remove")
            if not self.regularizer.enabled:
                raise PydanticCustomError(
                    "field", "target: target-sparsity mode adapts λ and needs the regularizer")
        return self


class EarlyConfig(StrictModel):
    """When EarlySNAP / EarlyCroP-S prune (see ``demp.methods.early``)."""

    latest_fraction: float = Field(
        0.5, gt=0, le=1, description="Prune at this fraction of training at the latest, if the "
        "relative change of ||θ_t − θ_0|| has not fallen below 1 − density by then.")


class SlimmingConfig(StrictModel):
    """Network slimming: constant L1 on norm scales, a |γ| threshold, then fine-tuning."""

    lam: float = Field(1e-4, ge=0, description="Constant λ of the L1 penalty on norm scales.")
    threshold: float = Field(
        1e-2, ge=0, description="Units whose norm scale |γ| is below this are removed.")
    finetune_epochs: float = Field(
        5.0, ge=0, description="Epochs trained after the removal (without L1), within the run's "
        "epochs: the total budget is the same as any other method's.")


class BaselineConfig(StrictModel):
    """Settings of the structured baselines (``method`` snap, crop_it, early_*, slimming)."""

    density: Fraction = Field(
        0.5, description="ρ, the fraction of units kept (live / initial units) by SNAP, CroP-it "
        "and their early variants; neural sparsity = 1 − ρ.")
    steps: Annotated[int, Field(ge=1, le=20)] = Field(
        5, description="Iterative pruning steps to reach the density.")
    score_batches: Annotated[int, Field(ge=1, le=10_000)] = Field(
        10, description="Training batches summed into each score.")
    early: EarlyConfig = Field(default_factory=EarlyConfig)
    slimming: SlimmingConfig = Field(default_factory=SlimmingConfig)


class TrainConfig(StrictModel):
    """One training run: everything `demp train` and a sweep trial need."""

    method: MethodName = Field(
        "demp", description="demp, a DemP ablation (demp_no_noise, demp_constant, "
        "demp_all_weights: presets over the demp section) or a structured baseline (snap, "
        "crop_it, early_snap, early_crop_s, slimming: DemP off, settings under `baseline`).")

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    lr_schedule: LRScheduleConfig = Field(default_factory=LRScheduleConfig)
    demp: DemPConfig = Field(default_factory=DemPConfig)
    epochs: float = Field(20, gt=0, le=1_000_000, description="Training length in epochs.")
    max_steps: Steps | None = Field(
        None, description="Overrides `epochs` when set."
    )
    eval_interval: Steps | None = Field(
        None, description="Steps between evaluations (default: once per epoch)."
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    grad_clip: float | None = Field(None, gt=0)
    divergence_loss: float = Field(
        1e4, gt=0, description="A training loss above this (or NaN) fails the run."
    )
    seed: Seed = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 autocast (GPU only).")
    channels_last: bool = Field(True, description="channels_last memory format (GPU only).")
    deterministic: bool = Field(False, description="torch deterministic algorithms.")
    threads: Annotated[int, Field(ge=1, le=1024)] | None = Field(
        None, description="CPU threads for torch (a C int: at most 1024 here).")
    output_dir: Path | None = Field(None, description="Where metrics, checkpoints and model go.")
    checkpoint_interval: Steps | None = Field(
        None, description="Steps between checkpoints in output_dir (default: at each eval)."
    )
    checkpoint_period_s: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = Field(
        None, description="Seconds between checkpoints when checkpoint_interval is unset "
        "(default: at each eval for `demp train`, 60 s in a sweep trial; 0: at each eval).")
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> "TrainConfig":
        if self.lr_schedule.name == "step" and not self.lr_schedule.milestones:
            raise PydanticCustomError(
                "field", "lr_schedule.milestones: the `step` schedule needs milestones")
        reg = self.demp.regularizer
        # the rules read the settings the method's preset gives (see demp.registry)
        demp_on = preset_value(self.method, "demp.enabled", self.demp.enabled)
        target = preset_value(self.method, "demp.regularizer.target", reg.target)
        no_norm = not self.model.norm and self.model.name in ("mlp", "small_cnn")
        if demp_on and reg.enabled and target in ("norm_scales", "norm_params") and no_norm:
            raise PydanticCustomError(
                "field", f"demp.regularizer.target: {target} needs model.norm=true "
                "(or use target all_weights)")
        if self.method == "slimming" and no_norm:
            raise PydanticCustomError(
                "field", "model.norm: method slimming prunes by normalization scales and needs "
                "model.norm=true")
        if self.model.name == "mlp" and mlp_weights(self.model, self.data) > MLP_WEIGHTS_MAX:
            raise PydanticCustomError(
                "field", f"model.hidden: the MLP would have {mlp_weights(self.model, self.data):.3g}"
                f" weights, more than {MLP_WEIGHTS_MAX} (8 GiB as float32); use narrower layers")
        finetune = self.baseline.slimming.finetune_epochs
        if self.method == "slimming" and self.max_steps is None and finetune >= self.epochs:
            raise PydanticCustomError(
                "field", f"baseline.slimming.finetune_epochs: must be below epochs "
                f"({self.epochs:g}); fine-tuning is part of the run's budget (got {finetune:g})")
        return self


def mlp_weights(model: ModelConfig, data: DataConfig) -> int:
    """Weights of the MLP ``model`` on ``data`` (the classifier's inputs included)."""
    size = (math.prod(data.synthetic.shape) if data.name == "synthetic"
            else DATASET_INPUT_VALUES[data.name])
    total = 0
    for h in model.hidden:
        width = max(1, int(round(h * model.width)))
        total, size = total + size * width, width
    return total + size


def validate(model: type[BaseModel], data: dict[str, Any], prefix: str = "") -> Any:
    """Validate ``data`` into ``model``, raising ConfigError with field paths on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, prefix, model=model)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b=c`` into a key path and a YAML-typed value (``1e-3`` → float, ``[1,2]`` → list)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE")
    key, raw = text.split("=", 1)
    path = dotted.split(key.strip())
    if not all(path):
        raise ConfigError(f"--set {shown(text)}: empty key in path {shown(key)}")
    try:
        value = parse_yaml(raw, f"--set {key.strip()}", key.strip()) if raw.strip() else ""
    except YamlProblem as err:
        raise ConfigError(str(err)) from None
    # YAML 1.1 reads "1e-3" as a string; accept the float users mean.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``--set a.b=c`` overrides, in order (``demp.dotted``: numeric segments index lists)."""
    for text in overrides:
        path, value = parse_override(text)
        try:
            dotted.set_value(data, path, value)
        except dotted.PathError as err:
            if err.reason == "not_section":
                raise ConfigError(f"{err.at}: is not a section, cannot set {path[-1]}") from None
            raise ConfigError(str(err)) from None
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file; anything unreadable is an ``InputFileError``
    (``demp.yamlfile`` says what)."""
    try:
        return load_mapping(path)
    except YamlProblem as err:
        raise InputFileError(str(err)) from None


def load_train_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """A TrainConfig from an optional YAML file and ``--set`` overrides, validated once."""
    data = load_yaml(path) if path else {}
    apply_overrides(data, list(overrides))
    return validate(TrainConfig, data)


def json_schema(model: type[BaseModel] = TrainConfig) -> str:
    return json.dumps(model.model_json_schema(), indent=2)


__all__ = [
    "BaselineConfig", "ConfigError", "DataConfig", "DeathConfig", "DemPConfig", "EarlyConfig",
    "LRScheduleConfig", "ModelConfig", "NoiseConfig", "OptimizerConfig", "RegularizerConfig",
    "ScheduleConfig", "SlimmingConfig", "StrictModel", "SyntheticConfig", "TargetConfig",
    "TrainConfig", "apply_overrides", "format_validation_error", "json_schema", "load_train_config",
    "load_yaml", "parse_override", "validate",
]

"""W&B tracking: one run per trial (dead-neuron dynamics), one run per sweep (the frontier).

``WandbTrialCallback`` attaches to the trainer like any other callback; ``SweepRunLogger`` is fed
by the sweep driver as trials finish. Both follow three rules:

* **W&B is optional.** Every call into ``wandb`` goes through ``_RunOwner._guard``: the first
  exception (init, network, disk, a bug in a media type) is logged once as a warning, the owner
  disables itself and the trial / sweep carries on. ``wandb`` is imported lazily, so a broken W&B
  install costs a warning, not a sweep.
* **Modes.** ``mode="auto"`` follows ``WANDB_MODE`` when it is set, else goes online when an API key
  is configured (``WANDB_API_KEY``, ``WANDB_IDENTITY_TOKEN_FILE`` or a netrc entry for the W&B
  host) and offline otherwise (sync later with ``wandb sync DIR/wandb/offline-run-*``).
  ``"disabled"`` never imports or starts W&B at all.
* **No secrets.** The API key is never passed to ``wandb.init`` (W&B reads it from its own
  sources), and config dicts are scrubbed of secret-looking keys and of the key's value before
  they are logged. Warnings have the key's value masked too.

Run ids are derived from names (``trial_run_id`` / ``sweep_run_id``) and runs are opened with
``resume="allow"``: a trial resumed from its checkpoint continues the run it started. Offline, each
attempt writes its own ``offline-run-*`` directory under the same run id; ``wandb sync`` uploads
them into that one run. Rows are logged with ``step=`` the training step (the sweep run: the
number of finished trials), so W&B's own step is the trainer's: an evaluation and a death check at
the same step share a row, and two attempts of a trial never write the same step twice (online,
W&B drops the rare re-logged step of an attempt resumed from an older checkpoint).

The metric keys live here, in one place, so the dashboards (``demp.track.dashboards``) cannot
drift from what the callback logs. ``read_offline_run`` reads a run's ``.wandb`` transaction log
back (tests, debugging, the offline report) without network.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from demp.train.callbacks import Callback

if TYPE_CHECKING:
    from demp.train.trainer import Trainer

log = logging.getLogger(__name__)

T = TypeVar("T")
Mode = Literal["online", "offline", "disabled"]

# ------------------------------------------------------------------------------ metric keys
# Trial runs (job_type "trial"). Every history row carries STEP_KEY (also W&B's ``_step``);
# define_metric makes it the x-axis of every chart, so charts read in training steps.
STEP_KEY = "trainer/step"
# Scalars of the trainer's metrics record logged at each evaluation, under their own names.
EVAL_METRICS: tuple[str, ...] = (
    "epoch", "progress", "val_acc", "val_loss", "test_acc", "test_loss", "train_loss",
    "lam", "sigma", "lr", "regularizer", "neural_sparsity", "param_sparsity", "params",
    "flops", "train_flops", "step_time", "train_time",
)
ACCURACY_METRICS = ("val_acc", "test_acc")
LOSS_METRICS = ("val_loss", "test_loss", "train_loss")
SCHEDULE_METRICS = ("lam", "sigma", "lr", "regularizer")
SPARSITY_METRICS = ("neural_sparsity", "param_sparsity")
SPEED_METRICS = ("step_time", "flops", "train_flops", "train_time")
# Per unit group, at each evaluation: ``live_units/<group>``, ``dead_fraction/<group>``.
LIVE_UNITS = "live_units"
DEAD_FRACTION = "dead_fraction"
# At each death check: ``prune/removed/<group>``, ``prune/dead/<group>`` and the totals.
PRUNE_REMOVED = "prune/removed"
PRUNE_DEAD = "prune/dead"
PRUNE_REMOVED_TOTAL = "prune/removed_total"
PRUNE_DEAD_TOTAL = "prune/dead_total"
PRUNE_DETECT_TIME = "prune/detect_time"
PRUNE_SURGERY_TIME = "prune/surgery_time"
# Logged once, at the end of a trial.
LIVE_UNITS_TABLE = "live_units_table"      # columns: step, <group>... (live units)
LIVE_UNITS_HEATMAP = "live_units_heatmap"  # image: group × step, colour = live fraction
PRUNE_EVENTS_TABLE = "prune_events"        # columns: step, group, dead, removed, live_units
TRIAL_END_KEYS = (LIVE_UNITS_TABLE, LIVE_UNITS_HEATMAP, PRUNE_EVENTS_TABLE)
# Summary-only keys of a trial run (besides the final values of everything above).
SUMMARY_STOPPED_EARLY = "stopped_early"
SUMMARY_TOTAL_STEPS = "total_steps"

# The sweep run (job_type "sweep").
SWEEP_STEP_KEY = "sweep/finished_trials"
HYPERVOLUME = "sweep/hypervolume"
FRONTIER_SIZE = "sweep/frontier_size"
TRIAL_COUNTS = "sweep/trials"              # sweep/trials/<status>, sweep/trials/total
FRONTIER_TABLE = "frontier"
TRIALS_TABLE = "trials"
FRONTIER_PLOT = "frontier_plot"
SWEEP_MEDIA_KEYS = (FRONTIER_TABLE, TRIALS_TABLE, FRONTIER_PLOT)

JOB_TRIAL = "trial"
JOB_SWEEP = "sweep"
DEFAULT_PROJECT = "demp"


def layer_key(prefix: str, group: str) -> str:
    """The W&B key of a per-layer value, e.g. ``layer_key(DEAD_FRACTION, "fc1")``."""
    return f"{prefix}/{group}"


def count_key(status: str) -> str:
    return f"{TRIAL_COUNTS}/{status}"


# ------------------------------------------------------------------------------ modes, ids, secrets

_SECRET_KEY = re.compile(r"(api[_-]?key|apikey|token|password|passwd|secret|credential|key$)",
                         re.IGNORECASE)
REDACTED = "***"


def api_key_configured() -> bool:
    """Whether W&B would find credentials for its host; never reads the key into a message.

    Checks ``WANDB_API_KEY`` / ``WANDB_IDENTITY_TOKEN_FILE`` and the netrc file W&B itself uses
    (``NETRC`` or ``~/.netrc``), for ``WANDB_BASE_URL`` or W&B's default host.
    """
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:
        from wandb.sdk.lib import urls
        from wandb.sdk.lib.wbauth import wbnetrc

        host = os.environ.get("WANDB_BASE_URL") or urls.DEFAULT_BASE_URL
        return wbnetrc.read_netrc_auth(host=host) is not None
    except Exception:  # noqa: BLE001 - private W&B API moved, or a malformed netrc: no key
        return False


def resolve_mode(mode: str = "auto") -> Mode:
    """``online`` / ``offline`` / ``disabled`` as given; ``auto`` as described in the module doc."""
    mode = (mode or "auto").lower()
    if mode in ("online", "offline", "disabled"):
        return mode  # type: ignore[return-value]
    if mode == "dryrun":
        return "offline"
    if mode != "auto":
        raise ValueError(f"wandb mode must be auto, online, offline or disabled, not {mode!r}")
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("online", "offline", "disabled"):
        return env  # type: ignore[return-value]
    if env == "dryrun":
        return "offline"
    return "online" if api_key_configured() else "offline"


def settings_kwargs(settings: Any) -> dict[str, Any]:
    """``mode`` / ``project`` / ``entity`` / ``tags`` from the sweep spec's W&B section.

    Accepts the pydantic model (``SweepSpec.wandb``), a plain dict (``model_dump()`` across a
    process boundary) or None; absent fields keep the loggers' defaults.
    """
    if settings is None:
        return {}
    get = settings.get if isinstance(settings, Mapping) else (
        lambda k, d=None: getattr(settings, k, d))
    out: dict[str, Any] = {}
    for name in ("mode", "project", "entity"):
        if get(name) is not None:
            out[name] = get(name)
    if get("tags"):
        out["tags"] = list(get("tags"))
    return out


def make_run_id(*parts: str) -> str:
    """A W&B-legal, deterministic run id: a readable slug of ``parts`` plus a short hash.

    The hash keeps ids distinct when slugging or trimming makes two names equal. At most 64
    characters, only ``[a-z0-9_-]``.
    """
    digest = hashlib.sha1("\0".join(parts).encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9_-]+", "-", "-".join(parts).lower()).strip("-_")[:48].rstrip("-_")
    return f"{slug}-{digest}" if slug else digest


def trial_run_id(sweep: str, trial_id: str) -> str:
    """The run id of a trial: the same for every attempt of that trial."""
    return make_run_id(sweep, trial_id)


def sweep_run_id(sweep: str) -> str:
    """The run id of a sweep's own run (distinct from any trial's)."""
    return make_run_id(sweep, "sweep", JOB_SWEEP)


def _known_secret() -> str | None:
    key = os.environ.get("WANDB_API_KEY")
    return key if key and len(key) >= 8 else None


def scrub(value: Any, secret: str | None = None) -> Any:
    """A copy of a config-like value with secret-looking keys and the API key's value masked."""
    secret = secret if secret is not None else _known_secret()
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if _SECRET_KEY.search(str(k)) else scrub(v, secret))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secret) for v in value]
    if isinstance(value, str) and secret and secret in value:
        return value.replace(secret, REDACTED)
    return value


def _mask(text: str) -> str:
    secret = _known_secret()
    return text.replace(secret, REDACTED) if secret else text


def _plain(value: Any) -> Any:
    """Numpy scalars to Python, lists / dicts to JSON text (table cells stay scalar)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except Exception:  # noqa: BLE001
            return str(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# ------------------------------------------------------------------------------ the guarded run


class _RunOwner:
    """Owns at most one W&B run; every W&B call goes through ``_guard``.

    After the first failure the owner is disabled for good (a half-working run is worse than an
    absent one: it would silently miss data), and the failure is kept in ``error``.
    """

    def __init__(self, *, run_id: str, job_type: str, mode: str = "auto",
                 project: str | None = None, entity: str | None = None,
                 group: str | None = None, name: str | None = None,
                 dir: str | os.PathLike[str] | None = None, tags: Sequence[str] = (),
                 system_metrics: bool = True, init_timeout: float = 60.0,
                 finish_timeout: float = 300.0, fallback_offline: bool = True) -> None:
        self.run_id = run_id
        self.job_type = job_type
        self.requested_mode = mode
        self.project = project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT
        self.entity = entity
        self.group = group
        self.name = name
        self.dir = Path(dir) if dir is not None else None
        self.tags = list(tags)
        self.system_metrics = system_metrics
        self.init_timeout = init_timeout
        self.finish_timeout = finish_timeout
        self.fallback_offline = fallback_offline
        self.mode: Mode | None = None  # resolved at init
        self.run: Any = None
        self.error: str | None = None
        self.finished = False
        self._disabled = False
        self._broken_run: Any = None

    # ------------------------------------------------------------------ state
    @property
    def enabled(self) -> bool:
        """True while W&B is wanted and nothing has failed."""
        return not self._disabled and not self.finished

    @property
    def active(self) -> bool:
        return self.enabled and self.run is not None

    def _disable(self, what: str, exc: BaseException) -> None:
        self.error = _mask(f"{what}: {type(exc).__name__}: {exc}")
        if not self._disabled:
            log.warning("W&B logging disabled for run %s (%s); training continues without it",
                        self.run_id, self.error)
        self._disabled = True
        # Nothing more is logged; ``finish`` still tries once to close the run (flushing what
        # was logged before the failure), swallowing any error.
        if self.run is not None:
            self._broken_run = self.run
        self.run = None

    def _guard(self, what: str, fn: Callable[[], T]) -> T | None:
        if not self.enabled:
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - W&B is never allowed to fail training
            self._disable(what, exc)
            return None

    # ------------------------------------------------------------------ init / finish
    def _settings(self, wandb: Any, mode: Mode) -> Any:
        kwargs: dict[str, Any] = {
            "console": "off",          # Ray / the CLI keep stdout; no double capture
            "save_code": False,
            "x_disable_stats": not self.system_metrics,
            "init_timeout": self.init_timeout,
        }
        if mode == "online":
            kwargs["finish_timeout"] = self.finish_timeout
        return wandb.Settings(**kwargs)

    def _init(self, config: Mapping[str, Any]) -> bool:
        """Start (or resume) the run; False when W&B is disabled or failed."""
        if not self.enabled:
            return False
        if self.run is not None:
            return True
        try:
            self.mode = resolve_mode(self.requested_mode)
        except ValueError as exc:
            self._disable("mode", exc)
            return False
        if self.mode == "disabled":
            self._disabled = True
            return False
        modes: list[Mode] = [self.mode]
        if self.mode == "online" and self.fallback_offline:
            modes.append("offline")
        for i, mode in enumerate(modes):
            try:
                self.run = self._start(mode, config)
                self.mode = mode
                return True
            except Exception as exc:  # noqa: BLE001
                if i + 1 < len(modes):
                    log.warning("W&B online init failed for run %s (%s); logging offline instead "
                                "(sync later with `wandb sync`)", self.run_id,
                                _mask(f"{type(exc).__name__}: {exc}"))
                    continue
                self._disable("init", exc)
        return False

    def _start(self, mode: Mode, config: Mapping[str, Any]) -> Any:
        import wandb

        if mode == "offline":
            _no_wandb_analytics()
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
        return wandb.init(
            project=self.project, entity=self.entity, group=self.group,
            job_type=self.job_type, name=self.name, id=self.run_id, resume="allow",
            tags=self.tags or None, config=dict(scrub(dict(config))),
            dir=str(self.dir) if self.dir is not None else None, mode=mode,
            reinit="create_new", settings=self._settings(wandb, mode),
        )

    def finish(self, exit_code: int = 0) -> None:
        """Finish the run (idempotent; safe when W&B was never started or has failed).

        Offline, ``run.finish()`` can return while wandb-core is still writing the transaction
        log; this waits (briefly) until the log ends with its exit record, so whoever reads the
        run directory next (tests, the offline report, ``wandb sync``) sees all of it.
        """
        run, broken = self.run, self._broken_run
        self._broken_run = None
        log_file = _sync_file(run or broken) if self.mode == "offline" else None
        if run is not None and self.enabled:
            self._guard("finish", lambda: run.finish(exit_code=exit_code))
        elif broken is not None:
            try:
                broken.finish(exit_code=exit_code)
            except Exception as exc:  # noqa: BLE001 - already disabled and warned
                log.debug("closing the failed W&B run %s: %s", self.run_id, _mask(repr(exc)))
        if log_file is not None:
            wait_for_transaction_log(log_file)
        self.finished = True
        self.run = None

    @property
    def run_dir(self) -> Path | None:
        """The local run directory (``.../wandb/offline-run-...``), once started."""
        run = self.run
        if run is None:
            return None
        try:
            return Path(run.dir).parent
        except Exception:  # noqa: BLE001
            return None

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)


def _no_wandb_analytics() -> None:
    """Stop W&B's own usage telemetry in this process (an offline run sends nothing).

    wandb 0.31 decides on its OpenTelemetry export from the process-wide settings, not the
    run's: with ``mode="offline"`` passed to ``init`` but no ``WANDB_MODE`` in the environment
    it still resolves and probes the W&B server at exit. Offline means air-gapped here.
    """
    try:
        from wandb.analytics.opentelemetry import opentelemetry_proxy

        opentelemetry_proxy.disable()
    except Exception:  # noqa: BLE001 - the private API moved: nothing to switch off
        pass


def _sync_file(run: Any) -> Path | None:
    try:
        return Path(run.settings.sync_file) if run is not None else None
    except Exception:  # noqa: BLE001
        return None


# ------------------------------------------------------------------------------ trials


class WandbTrialCallback(_RunOwner, Callback):
    """One W&B run per trial: evaluations, prune events, a per-layer table and heat map.

    Use as a context manager (or call ``finish(exit_code=1)`` on failure) so a trial that raises
    closes its run as failed; a trial that ends normally finishes the run in ``on_end``.

    Args:
        trial_id: The trial's id (Ray's trial id in a sweep); with ``sweep`` it fixes the run id.
        sweep: The sweep name, used as the W&B group.
        mode: ``auto`` / ``online`` / ``offline`` / ``disabled``.
        extra_config: Logged beside the trainer config under ``trial`` (e.g. sampled params).
        dir: Parent of the ``wandb/`` run directories (default: ``WANDB_DIR`` or the cwd).
        system_metrics: W&B's CPU / GPU / memory sampling (off in tests).
    """

    def __init__(self, trial_id: str, sweep: str | None = None, *, mode: str = "auto",
                 project: str | None = None, entity: str | None = None,
                 dir: str | os.PathLike[str] | None = None, tags: Sequence[str] = (),
                 name: str | None = None, extra_config: Mapping[str, Any] | None = None,
                 run_id: str | None = None, system_metrics: bool = True,
                 init_timeout: float = 60.0, finish_timeout: float = 300.0,
                 fallback_offline: bool = True) -> None:
        super().__init__(
            run_id=run_id or (trial_run_id(sweep, trial_id) if sweep else make_run_id(trial_id)),
            job_type=JOB_TRIAL, mode=mode, project=project, entity=entity, group=sweep,
            name=name or trial_id, dir=dir, tags=tags, system_metrics=system_metrics,
            init_timeout=init_timeout, finish_timeout=finish_timeout,
            fallback_offline=fallback_offline)
        self.trial_id = trial_id
        self.sweep = sweep
        self.extra_config = dict(extra_config or {})
        self._groups: list[str] = []
        self._evals: list[tuple[int, dict[str, int], dict[str, float]]] = []
        self._prunes: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer: Trainer) -> None:
        if not self.enabled:
            return
        config: dict[str, Any] = trainer.cfg.model_dump(mode="json")
        config["trial"] = {"id": self.trial_id, "sweep": self.sweep, **self.extra_config}
        config["trainer"] = {"total_steps": trainer.total_steps,
                             "steps_per_epoch": getattr(trainer, "steps_per_epoch", None)}
        if not self._init(config):
            return
        run = self.run
        self._guard("define_metric", lambda: self._define_metrics(run))
        self._guard("summary", lambda: run.summary.update(
            {"resumed_from_step": trainer.step} if trainer.step else {}))

    @staticmethod
    def _define_metrics(run: Any) -> None:
        run.define_metric(STEP_KEY)
        run.define_metric("*", step_metric=STEP_KEY)

    def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        live = {str(g): int(n) for g, n in (metrics.get("live_units") or {}).items()}
        dead = {str(g): float(f) for g, f in (metrics.get("dead_fraction") or {}).items()}
        for g in [*live, *dead]:
            if g not in self._groups:
                self._groups.append(g)
        self._evals.append((int(metrics["step"]), live, dead))
        if self.run is not None:
            row = eval_row(metrics)
            run = self.run
            self._guard("log eval", lambda: run.log(row, step=row[STEP_KEY]))

    def on_prune(self, trainer: Trainer, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._prunes.append(event)
        if self.run is not None:
            row = prune_row(event)
            run = self.run
            self._guard("log prune", lambda: run.log(row, step=row[STEP_KEY]))

    def on_end(self, trainer: Trainer, summary: dict[str, Any]) -> None:
        if not self.active:
            self.finish(exit_code=0)
            return
        run, step = self.run, int(summary["step"])
        final = summary_values(summary)
        self._guard("live units table", lambda: run.log(
            {STEP_KEY: step, LIVE_UNITS_TABLE: self.live_units_table()}, step=step))
        if self._prunes:
            self._guard("prune table", lambda: run.log(
                {STEP_KEY: step, PRUNE_EVENTS_TABLE: self.prune_events_table()}, step=step))
        if self._evals and self._groups:
            self._guard("heat map", lambda: run.log(
                {STEP_KEY: step, LIVE_UNITS_HEATMAP: self._heatmap_image()}, step=step))
        self._guard("summary", lambda: run.summary.update(final))
        self.finish(exit_code=0)

    # ------------------------------------------------------------------ end-of-run artefacts
    def live_units_rows(self) -> tuple[list[str], list[list[Any]]]:
        """Columns ``step, <group>...`` and one row per evaluation of this attempt."""
        columns = ["step", *self._groups]
        rows = [[step, *[live.get(g) for g in self._groups]] for step, live, _ in self._evals]
        return columns, rows

    def live_units_table(self) -> Any:
        import wandb

        columns, rows = self.live_units_rows()
        return wandb.Table(columns=columns, data=rows, allow_mixed_types=True)

    def prune_events_table(self) -> Any:
        import wandb

        rows = []
        for e in self._prunes:
            removed, live = e.get("removed") or {}, e.get("live_units") or {}
            for g, n in (e.get("dead") or {}).items():
                rows.append([int(e["step"]), str(g), int(n), int(removed.get(g, 0)),
                             live.get(g)])
        return wandb.Table(columns=["step", "group", "dead", "removed", "live_units"], data=rows,
                           allow_mixed_types=True)

    def heatmap_png(self) -> bytes:
        """The live fraction (1 − dead fraction) of each group at each evaluation, as a PNG."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        steps = [s for s, _, _ in self._evals]
        grid = [[1.0 - dead.get(g, math.nan) for _, _, dead in self._evals] for g in self._groups]
        fig = Figure(figsize=(min(14.0, 3.0 + 0.25 * len(steps)),
                              min(12.0, 1.5 + 0.32 * len(self._groups))))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0,
                       interpolation="nearest")
        if len(steps) * len(self._groups) <= 240:  # small grids: print the live count per cell
            for i, g in enumerate(self._groups):
                for j, (_, live, _) in enumerate(self._evals):
                    if g in live:
                        ax.text(j, i, str(live[g]), ha="center", va="center", fontsize=6,
                                color="white" if grid[i][j] < 0.6 else "black")
        ax.set_yticks(range(len(self._groups)), labels=self._groups, fontsize=7)
        stride = max(1, len(steps) // 8)
        ticks = list(range(0, len(steps), stride))
        if len(steps) - 1 - ticks[-1] >= max(1, stride // 2):
            ticks.append(len(steps) - 1)
        ax.set_xticks(ticks, labels=[str(steps[i]) for i in ticks], fontsize=7)
        ax.set_xlabel("training step")
        ax.set_title("live units per layer (fraction of initial)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return buf.getvalue()

    def _heatmap_image(self) -> Any:
        import wandb
        from PIL import Image

        return wandb.Image(Image.open(io.BytesIO(self.heatmap_png())),
                           caption="live fraction per layer × step")


def eval_row(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The history row logged for one evaluation record of the trainer."""
    row: dict[str, Any] = {STEP_KEY: int(metrics["step"])}
    for k in EVAL_METRICS:
        if k in metrics and metrics[k] is not None:
            row[k] = metrics[k]
    for g, n in (metrics.get("live_units") or {}).items():
        row[layer_key(LIVE_UNITS, g)] = int(n)
    for g, f in (metrics.get("dead_fraction") or {}).items():
        row[layer_key(DEAD_FRACTION, g)] = float(f)
    return row


def prune_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """The history row logged for one death check (every check, removals or not)."""
    row: dict[str, Any] = {STEP_KEY: int(event["step"])}
    removed = {str(g): int(n) for g, n in (event.get("removed") or {}).items()}
    dead = {str(g): int(n) for g, n in (event.get("dead") or {}).items()}
    for g, n in removed.items():
        row[layer_key(PRUNE_REMOVED, g)] = n
    for g, n in dead.items():
        row[layer_key(PRUNE_DEAD, g)] = n
    row[PRUNE_REMOVED_TOTAL] = sum(removed.values())
    row[PRUNE_DEAD_TOTAL] = sum(dead.values())
    if "detect_time" in event:
        row[PRUNE_DETECT_TIME] = float(event["detect_time"])
    if "surgery_time" in event:
        row[PRUNE_SURGERY_TIME] = float(event["surgery_time"])
    return row


def summary_values(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The run summary from the trainer's final record: final metrics, flat per-layer keys."""
    out = eval_row(summary)
    out[SUMMARY_STOPPED_EARLY] = bool(summary.get("stopped_early", False))
    if "total_steps" in summary:
        out[SUMMARY_TOTAL_STEPS] = int(summary["total_steps"])
    return out


# ------------------------------------------------------------------------------ the sweep run


class SweepRunLogger(_RunOwner):
    """The sweep's own run (job_type ``sweep``): frontier, hypervolume history, trial counts.

    Call ``update`` whenever a trial finishes. The hypervolume history is logged point by point
    (x = finished trials), so each update only adds the new points, with the trial counts and the
    frontier size. The tables (``frontier``, ``trials``) and the frontier plot are re-logged whole
    (W&B shows the latest) when the frontier changed, every ``media_every`` updates otherwise,
    and at ``finish``: re-logging a growing table after every trial would store O(trials²).

    The frontier plot is a matplotlib image, not a ``wandb.plot.scatter``: that preset draws a
    single series, so it cannot mark the frontier against the dominated trials, and it renders
    only in the W&B app. The image looks the same offline, online and in the offline report; the
    interactive view is the workspace's scatter of the trial runs' summaries and the ``trials``
    table (its ``on_frontier`` column).
    """

    def __init__(self, sweep: str, *, mode: str = "auto", project: str | None = None,
                 entity: str | None = None, dir: str | os.PathLike[str] | None = None,
                 tags: Sequence[str] = (), config: Mapping[str, Any] | None = None,
                 run_id: str | None = None, media_every: int = 10, system_metrics: bool = False,
                 init_timeout: float = 60.0, finish_timeout: float = 300.0,
                 fallback_offline: bool = True) -> None:
        super().__init__(
            run_id=run_id or sweep_run_id(sweep), job_type=JOB_SWEEP, mode=mode,
            project=project, entity=entity, group=sweep, name=f"{sweep} (sweep)", dir=dir,
            tags=tags, system_metrics=system_metrics, init_timeout=init_timeout,
            finish_timeout=finish_timeout, fallback_offline=fallback_offline)
        self.sweep = sweep
        self.config = dict(config or {})
        self.media_every = max(1, int(media_every))
        self._hv_logged: int | None = None
        self._frontier_ids: tuple[str, ...] | None = None
        self._since_media = 0
        self._pending: tuple[Any, ...] | None = None  # the last update whose media is unlogged

    def start(self) -> bool:
        """Open the run now (``update`` does it on first use)."""
        if not self._init({"sweep": self.sweep, **self.config}):
            return False
        run = self.run

        def setup() -> None:
            run.define_metric(SWEEP_STEP_KEY)
            run.define_metric("sweep/*", step_metric=SWEEP_STEP_KEY)
            # A resumed online run already holds the points logged before the driver stopped.
            self._hv_logged = int(run.summary.get(SWEEP_STEP_KEY, 0) or 0)

        self._guard("define_metric", setup)
        return self.active

    def update(self, frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
               hv_history: list[float], counts: Mapping[str, int],
               objectives: Sequence[tuple[str, str]]) -> None:
        """Log the sweep's state after a trial finished.

        Args:
            frontier_rows: One flat dict per frontier trial (``demp.sweep.results.frontier_rows``).
            all_rows: One flat dict per finished trial (``trial_id``, ``status``, metrics, params).
            hv_history: Hypervolume after each finished trial, in finish order.
            counts: Trials by status (``complete`` / ``truncated`` / ``failed``).
            objectives: ``(metric, direction)`` pairs; the first two are the plot's axes.
        """
        if not self.enabled or (self.run is None and not self.start()):
            return
        run = self.run
        n = len(hv_history)
        rows = sweep_rows(len(frontier_rows), hv_history, counts,
                          already_logged=self._hv_logged or 0)
        ids = tuple(sorted(str(r.get("trial_id")) for r in frontier_rows))
        self._since_media += 1
        state = (list(frontier_rows), list(all_rows), list(objectives), n)
        if ids != self._frontier_ids or self._since_media >= self.media_every:
            media = self._guard("sweep tables", lambda: sweep_media(*state[:3]))
            if media is None:
                return
            rows[-1].update(media)
            self._frontier_ids, self._since_media, self._pending = ids, 0, None
        else:
            self._pending = state
        for row in rows:
            self._guard("log sweep", lambda row=row: run.log(row, step=row[SWEEP_STEP_KEY]))
            if not self.active:
                return
        self._hv_logged = max(self._hv_logged or 0, n)
        self._guard("summary", lambda: run.summary.update(
            {"objectives": [list(o) for o in objectives]}))

    def finish(self, exit_code: int = 0) -> None:
        """Log the latest tables / plot if an update left them stale, then finish the run."""
        pending, run = self._pending, self.run
        self._pending = None
        if pending is not None and run is not None and self.active:
            frontier_rows, all_rows, objectives, n = pending
            self._guard("sweep tables", lambda: run.log(
                {SWEEP_STEP_KEY: n, **sweep_media(frontier_rows, all_rows, objectives)}, step=n))
        super().finish(exit_code)


def sweep_media(frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
                objectives: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The sweep run's tables and frontier plot (``SWEEP_MEDIA_KEYS``)."""
    out = {FRONTIER_TABLE: table_of(frontier_rows),
           TRIALS_TABLE: table_of(_mark_frontier(all_rows, frontier_rows))}
    if objectives and all_rows:
        out[FRONTIER_PLOT] = _frontier_image(frontier_rows, all_rows, objectives)
    return out


def sweep_rows(frontier_size: int, hv_history: Sequence[float], counts: Mapping[str, int],
               already_logged: int = 0) -> list[dict[str, Any]]:
    """The sweep run's scalar history rows for one update (the tables / plot join the last).

    One row per hypervolume point not logged yet (x = finished trials); the frontier size and
    the counts go into the last. With no new point the state is logged at the current x.
    """
    n = len(hv_history)
    rows = [{SWEEP_STEP_KEY: i + 1, HYPERVOLUME: float(hv_history[i])}
            for i in range(min(already_logged, n), n)]
    if not rows:
        rows = [{SWEEP_STEP_KEY: n, **({HYPERVOLUME: float(hv_history[-1])} if n else {})}]
    rows[-1].update({
        FRONTIER_SIZE: int(frontier_size),
        **{count_key(s): int(c) for s, c in counts.items()},
        count_key("total"): int(sum(counts.values())),
    })
    return rows


def table_of(rows: list[dict[str, Any]]) -> Any:
    """A ``wandb.Table`` of flat dicts: columns in first-seen order, missing cells None."""
    import wandb

    columns: list[str] = []
    for row in rows:
        columns += [str(c) for c in row if str(c) not in columns]
    data = [[_plain(row.get(c)) for c in columns] for row in rows]
    return wandb.Table(columns=columns or ["trial_id"], data=data, allow_mixed_types=True)


def _mark_frontier(all_rows: list[dict[str, Any]],
                   frontier_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    members = {r.get("trial_id") for r in frontier_rows}
    return [{**r, "on_frontier": r.get("trial_id") in members} for r in all_rows]


def frontier_png(frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
                 objectives: Sequence[tuple[str, str]]) -> bytes:
    """Accuracy (first objective, y) against sparsity (second, x); frontier in red, joined."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    y_m = objectives[0][0]
    x_m = objectives[1][0] if len(objectives) > 1 else "step"
    members = {r.get("trial_id") for r in frontier_rows}

    def xy(rows: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
        pts = [(_num(r.get(x_m)), _num(r.get(y_m))) for r in rows]
        pts = [p for p in pts if math.isfinite(p[0]) and math.isfinite(p[1])]
        return [p[0] for p in pts], [p[1] for p in pts]

    rest = [r for r in all_rows if r.get("trial_id") not in members
            and r.get("status", "complete") == "complete"]
    fig = Figure(figsize=(6.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    gx, gy = xy(rest)
    ax.scatter(gx, gy, c="0.65", s=20, label=f"dominated ({len(gx)})", zorder=1)
    fx, fy = xy(sorted(frontier_rows, key=lambda r: _num(r.get(x_m))))
    ax.plot(fx, fy, "-", color="tab:red", lw=1.2, zorder=2)
    ax.scatter(fx, fy, c="tab:red", s=34, edgecolors="k", linewidths=0.5,
               label=f"frontier ({len(fx)})", zorder=3)
    ax.set_xlabel(x_m)
    ax.set_ylabel(y_m)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("accuracy–sparsity frontier", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _frontier_image(frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
                    objectives: Sequence[tuple[str, str]]) -> Any:
    import wandb
    from PIL import Image

    png = frontier_png(frontier_rows, all_rows, objectives)
    return wandb.Image(Image.open(io.BytesIO(png)), caption="frontier (red) and dominated trials")


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ------------------------------------------------------------------------------ reading runs back
# A ``.wandb`` file is a LevelDB-style log: a 7-byte header (":W&B", magic 0xBEE1, version 0),
# then 32 KiB blocks of chunks, each with a 7-byte header (CRC-32 of type byte + data, length,
# type FULL / FIRST / MIDDLE / LAST); each record is a serialized ``wandb_internal_pb2.Record``.
# wandb 0.31 writes it from Go and ships no Python reader, hence this one.

_BLOCK = 32768
_HEADER = struct.Struct("<IHB")
_FILE_HEADER = struct.Struct("<4sHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def iter_transaction_log(path: str | os.PathLike[str]) -> Iterator[Any]:
    """The ``wandb_internal_pb2.Record``s of a ``.wandb`` file, in order.

    Stops quietly at a torn tail (a run killed mid-write); raises ``ValueError`` on a bad file
    header or a checksum mismatch before the tail.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    ident, magic, version = _FILE_HEADER.unpack_from(data, 0)
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise ValueError(f"{path}: not a W&B transaction log (header {data[:7]!r})")
    pos, pending = _FILE_HEADER.size, bytearray()
    while True:
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER.size:  # trailer padding
            pos += left
            continue
        if pos + _HEADER.size > len(data):
            return
        crc, length, kind = _HEADER.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding to the end of the block
            pos += left
            continue
        start, end = pos + _HEADER.size, pos + _HEADER.size + length
        if end > len(data):
            return
        chunk = data[start:end]
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            if end >= len(data):
                return
            raise ValueError(f"{path}: checksum mismatch at byte {pos}")
        pos = end
        if kind == _FULL:
            payload = bytes(chunk)
        elif kind == _FIRST:
            pending = bytearray(chunk)
            continue
        elif kind == _MIDDLE:
            pending += chunk
            continue
        elif kind == _LAST:
            payload, pending = bytes(pending + chunk), bytearray()
        else:
            raise ValueError(f"{path}: unknown chunk type {kind} at byte {pos}")
        record = pb.Record()
        record.ParseFromString(payload)
        yield record


def transaction_log_complete(path: str | os.PathLike[str]) -> bool:
    """Whether a ``.wandb`` file ends with its run's exit record (the writer is done)."""
    try:
        last = None
        for last in iter_transaction_log(path):
            pass
        return last is not None and last.WhichOneof("record_type") == "exit"
    except (OSError, ValueError, struct.error):
        return False


def wait_for_transaction_log(path: str | os.PathLike[str], timeout: float = 10.0) -> bool:
    """Poll until ``transaction_log_complete(path)``; False if it is not within ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not transaction_log_complete(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(0.2, delay * 2)
    return True


def _item_path(item: Any) -> list[str]:
    return [item.key] if item.key else list(item.nested_key)


def _set_item(target: dict[str, Any], item: Any) -> None:
    """Apply one update item; a nested key (media / table references) builds nested dicts."""
    *parents, last = _item_path(item)
    for p in parents:
        target = target.setdefault(p, {})
    target[last] = json.loads(item.value_json)


def _remove_item(target: dict[str, Any], item: Any) -> None:
    *parents, last = _item_path(item)
    for p in parents:
        target = target.get(p, {})
    target.pop(last, None)


@dataclass
class OfflineRun:
    """What a run directory's transaction log says: config, history rows, summary, metadata."""

    path: Path
    run_id: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metric_defs: list[dict[str, Any]] = field(default_factory=list)
    offline: bool = False
    exit_code: int | None = None

    def rows_with(self, key: str) -> list[dict[str, Any]]:
        return [r for r in self.history if key in r]

    def series(self, key: str, step_key: str = STEP_KEY) -> list[tuple[Any, Any]]:
        """``(step, value)`` for every history row that has ``key``."""
        return [(r.get(step_key), r[key]) for r in self.history if key in r]

    def load_file(self, ref: Mapping[str, Any]) -> Path:
        """The local file of a media / table value (``{"_type": ..., "path": ...}``)."""
        return self.path / "files" / str(ref["path"])

    def table(self, key: str) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows of the last table logged under ``key``."""
        refs = [r[key] for r in self.history if key in r]
        if not refs:
            raise KeyError(f"no table {key!r} in {self.path}")
        doc = json.loads(self.load_file(refs[-1]).read_text())
        return list(doc["columns"]), [list(row) for row in doc["data"]]


def find_offline_runs(root: str | os.PathLike[str], run_id: str | None = None) -> list[Path]:
    """Run directories (``*/wandb/offline-run-*``, ``run-*``) under ``root``, oldest first."""
    out = []
    for f in Path(root).rglob("run-*.wandb"):
        if run_id is None or f.name == f"run-{run_id}.wandb":
            out.append(f.parent)
    return sorted(out, key=lambda p: p.name)


def read_offline_run(run_dir: str | os.PathLike[str]) -> OfflineRun:
    """Parse the ``run-<id>.wandb`` file of one run directory."""
    run_dir = Path(run_dir)
    files = sorted(run_dir.glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"{run_dir}: no run-*.wandb transaction log")
    out = OfflineRun(path=run_dir, offline=run_dir.name.startswith("offline-run-"))
    for rec in iter_transaction_log(files[0]):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            out.run_id, out.project, out.entity = r.run_id, r.project, r.entity
            out.group, out.job_type, out.name = r.run_group, r.job_type, r.display_name
            out.tags = list(r.tags)
            for item in r.config.update:
                _set_item(out.config, item)
        elif kind == "config":
            for item in rec.config.update:
                _set_item(out.config, item)
            for item in rec.config.remove:
                _remove_item(out.config, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in rec.history.item:
                _set_item(row, item)
            out.history.append(row)
        elif kind == "summary":
            for item in rec.summary.update:
                _set_item(out.summary, item)
            for item in rec.summary.remove:
                _remove_item(out.summary, item)
        elif kind == "metric":
            m = rec.metric
            out.metric_defs.append({"name": m.name, "glob_name": m.glob_name,
                                    "step_metric": m.step_metric})
        elif kind == "exit":
            out.exit_code = rec.exit.exit_code
    out.config.pop("_wandb", None)
    return out

"""W&B runs that never fail training: modes, run ids, secrets, and the guarded run.

Every W&B run demp opens (a trial's, ``demp.track.trial_run``; the sweep's,
``demp.track.sweep_run``) is a ``GuardedRun`` and follows three rules:

* **W&B is optional.** Every call into ``wandb`` goes through ``GuardedRun._guard``: the first
  exception (init, network, disk, a bug in a media type) is logged once as a warning, the owner
  disables itself and the trial / sweep carries on. ``wandb`` is imported lazily, so a broken W&B
  install costs a warning, not a sweep.
* **Modes.** ``mode="auto"`` follows ``WANDB_MODE`` when it is set, else goes online when an API key
  is configured (``WANDB_API_KEY``, ``WANDB_IDENTITY_TOKEN_FILE`` or a netrc entry for the W&B
  host) and is disabled otherwise: offline runs that nobody asked for cost a sweep seconds
  per trial (issue #17); ``mode="offline"`` writes them (sync later with
  ``wandb sync DIR/wandb/offline-run-*``).
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

The keys live in ``demp.track.keys``; ``demp.track.wandb_log`` reads a run's ``.wandb``
transaction log back without network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from demp.track.keys import DEFAULT_PROJECT, JOB_SWEEP
from demp.track.wandb_log import wait_for_transaction_log

log = logging.getLogger(__name__)

T = TypeVar("T")
Mode = Literal["online", "offline", "disabled"]
MODES = ("auto", "online", "offline", "disabled")

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
    netrc = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.isfile(netrc):
        return False  # no credentials anywhere: no need to import W&B to find out
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
    return "online" if api_key_configured() else "disabled"


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


def mask_secret(text: str) -> str:
    """``text`` with the API key's value (if one is configured) replaced by ``***``."""
    secret = _known_secret()
    return text.replace(secret, REDACTED) if secret else text


# ------------------------------------------------------------------------------ the guarded run


class GuardedRun:
    """Owns at most one W&B run; every W&B call goes through ``_guard``.

    After the first failure the owner is disabled for good (a half-working run is worse than an
    absent one: it would silently miss data), and the failure is kept in ``error``. Subclasses
    (``WandbTrialCallback``, ``SweepRunLogger``) decide what to log; this class owns the run's
    life: mode resolution, ``wandb.init`` (online falling back to offline), ``finish``.

    Args:
        run_id: The W&B run id (derive it with ``trial_run_id`` / ``sweep_run_id``).
        job_type: ``keys.JOB_TRIAL`` or ``keys.JOB_SWEEP``.
        mode: ``auto`` / ``online`` / ``offline`` / ``disabled`` (see the module doc).
        dir: Parent of the ``wandb/`` run directories (default: ``WANDB_DIR`` or the cwd).
        system_metrics: W&B's CPU / GPU / memory sampling.
        fallback_offline: When an online init fails, try once more offline.
        silent: No W&B output on the terminal.
    """

    def __init__(self, *, run_id: str, job_type: str, mode: str = "auto",
                 project: str | None = None, entity: str | None = None,
                 group: str | None = None, name: str | None = None,
                 dir: str | os.PathLike[str] | None = None, tags: Sequence[str] = (),
                 system_metrics: bool = True, init_timeout: float = 60.0,
                 finish_timeout: float = 300.0, fallback_offline: bool = True,
                 silent: bool = False) -> None:
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
        self.silent = silent
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
        self.error = mask_secret(f"{what}: {type(exc).__name__}: {exc}")
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
        if self.silent:  # no run banner / summary on the terminal (a sweep prints its own)
            kwargs["silent"] = True
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
                                mask_secret(f"{type(exc).__name__}: {exc}"))
                    continue
                self._disable("init", exc)
        return False

    def _start(self, mode: Mode, config: Mapping[str, Any]) -> Any:
        import wandb

        if mode == "offline":
            _no_wandb_analytics()
        _scan_packages_once()
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
                log.debug("closing the failed W&B run %s: %s", self.run_id,
                          mask_secret(repr(exc)))
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


def _scan_packages_once() -> None:
    """One scan of the installed distributions per process for every run's ``requirements.txt``.

    wandb 0.31 lists them anew at each ``init`` (``wandb.util.working_set``, read by
    ``Run._on_start`` when ``x_save_requirements`` is on): 0.07–0.09 s of a trial's CPU per run
    on the 2-core machine, and a Ray worker runs dozens of trials under actor reuse (issue #17).
    The list is kept from the first scan, in the same order, so every run's file reads as it
    did; a package installed while a worker runs shows in the runs of workers started after.
    Where wandb has moved the function, nothing is changed.
    """
    try:
        import wandb.util as wandb_util

        scan = wandb_util.working_set
    except (ImportError, AttributeError):
        return
    if getattr(scan, "demp_scans_once", False):
        return
    packages: list[list[Any]] = []  # the one scan, once made
    lock = threading.Lock()  # the driver's W&B thread and a caller's may start runs at once

    def working_set() -> Any:
        with lock:
            if not packages:
                packages.append(list(scan()))
        return iter(packages[0])

    working_set.demp_scans_once = True  # type: ignore[attr-defined]
    wandb_util.working_set = working_set


def _sync_file(run: Any) -> Path | None:
    try:
        return Path(run.settings.sync_file) if run is not None else None
    except Exception:  # noqa: BLE001
        return None

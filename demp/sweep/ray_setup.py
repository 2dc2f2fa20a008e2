"""Starting or joining Ray for a sweep, and the driver-side settings Tune reads when it starts.

A local instance listens on 127.0.0.1 only: ``demp.sweep``'s package import sets
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before Ray is first imported (the CLI sets it first for a
spec that joins a cluster off this machine), and ``init_ray`` refuses an instance that would
listen elsewhere.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import optuna
import ray

from demp.errors import ConfigError
from demp.spec.cluster import effective_address
from demp.spec.layout import trial_dirname
from demp.spec.schema import SweepSpec
from demp.sweep.driver_log import RayLogToFile
from demp.sweep.lean_ray import lean_local_start

T = TypeVar("T")

# Ray's experiment snapshot period (s) unless the user set TUNE_GLOBAL_CHECKPOINT_S: short, as
# the snapshot is small and a lagging one is what a killed driver has to reconcile.
SNAPSHOT_PERIOD_S = "2"
# Ray's config variable for the nice value of the workers a raylet starts (read at ray.init).
WORKER_NICENESS_ENV = "RAY_worker_niceness"


def init_ray(spec: SweepSpec) -> bool:
    """Start or join Ray for ``spec``; returns whether this call initialized it."""
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if effective_address(spec.ray.address) is None:  # else join it (RAY_ADDRESS in a Ray job)
        # Ray starts workers at nice 15 (its ``worker_niceness``), a cluster default that on
        # the user's own machine lets every other process starve the trials.
        os.environ.setdefault(WORKER_NICENESS_ENV, "0")
        resources = dict(num_cpus=spec.ray.num_cpus, num_gpus=spec.ray.num_gpus)
        if spec.ray.dashboard:
            _init_with_dashboard(resources, quiet)
        else:
            with lean_local_start():
                ray.init(**resources, **quiet)
        if ray.util.get_node_ip_address() != "127.0.0.1":
            ray.shutdown()
            raise ConfigError("ray.address: the local Ray instance would listen on a public "
                              "address; set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before ray is "
                              "imported (the demp CLI does this)")
        available = ray.cluster_resources()
        for key, need in (("CPU", spec.resources.cpu), ("GPU", spec.resources.gpu)):
            if need > available.get(key, 0):
                ray.shutdown()
                raise ConfigError(f"resources.{key.lower()}: a trial needs {need:g} {key} but the "
                                  f"local Ray instance has {available.get(key, 0):g}")
    else:
        quiet.pop("include_dashboard")
        ray.init(address=spec.ray.address, **quiet)
    return True


def _init_with_dashboard(resources: dict[str, Any], quiet: dict[str, Any]) -> None:
    """Ray's full local start, dashboard on 127.0.0.1 (``ray: {dashboard: true}``)."""
    from ray._private.utils import get_dashboard_dependency_error

    if get_dashboard_dependency_error() is not None:
        raise ConfigError("ray.dashboard: Ray's dashboard needs Ray's optional packages "
                          "(pip install 'ray[default]'); or leave ray.dashboard off")
    ray.init(**resources, **dict(quiet, include_dashboard=True), dashboard_host="127.0.0.1")


def tune_trial_dirname(trial: Any) -> str:
    """Tune's ``trial_dirname_creator`` for every experiment of a sweep (``trial_dirname``)."""
    return trial_dirname(trial.trial_id)


class RaySession:
    """Ray for one driver command: Ray's log lines to ``driver.log``, then start or join Ray;
    ``stop`` shuts down what ``start`` started and puts the log handlers back.

    ``stop_during(work)`` stops Ray on a thread while ``work`` (writing the sweep's results)
    runs: ``ray.shutdown`` spends its 1.5 s waiting for Ray's processes to exit (measured, issue
    #17) and the results need no Ray, so the two overlap. Used only after a run that ended
    normally; on an exception ``stop`` runs first, as before.
    """

    def __init__(self, spec: SweepSpec, driver_log: Path) -> None:
        self.spec = spec
        self.ray_log = RayLogToFile(driver_log)
        self.started = False

    def start(self) -> None:
        self.ray_log.start()
        self.started = init_ray(self.spec)

    def stop(self) -> None:
        started, self.started = self.started, False
        try:
            if started:
                ray.shutdown()
        finally:
            self.ray_log.stop()

    def stop_during(self, work: Callable[[], T]) -> T:
        errors: list[BaseException] = []

        def stop() -> None:
            try:
                self.stop()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, on this thread
                errors.append(exc)

        stopper = threading.Thread(target=stop, name="demp-ray-shutdown")
        stopper.start()
        try:
            result = work()
        finally:
            stopper.join()
        if errors:
            raise errors[0]
        return result


def driver_env(display: bool) -> None:
    """Driver-side settings, read by Tune when the Tuner starts (user values win)."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", SNAPSHOT_PERIOD_S)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: Tune prints nothing
    # No CSV / TensorBoard loggers (the runner adds the JSON one itself).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # One snapshot per reported checkpoint is intended (see ``demp.sweep.runner``).
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if display:
        os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")  # reasons go to trials.jsonl
    skip_callback_usage_tag()


def skip_callback_usage_tag() -> None:
    """Stop Ray Tune's usage telemetry from importing W&B, MLflow, Comet and Aim on the driver.

    ``tune.run`` calls ``ray.air._internal.usage.tag_callbacks`` on the run's callbacks, and that
    imports every logger integration Ray ships, to name which ones were passed. Whenever a run
    passes any callback (every sweep: ``ForwardToMonitor`` and the JSON logger), that costs
    the driver a ``wandb`` import (0.9 s on the 2-core machine, issue #17), before the first
    trial starts, with W&B disabled too. The tag names only Ray's own callback classes; demp
    passes none of the integrations, so nothing it would record is lost by skipping it. The
    attribute is looked up at call time (``air_usage.tag_callbacks(...)`` in ``tune/tune.py``),
    so replacing it here is enough; if Ray moves it, this does nothing.
    """
    try:
        from ray.air._internal import usage
    except ImportError:  # pragma: no cover - Ray reorganized its telemetry
        return
    if hasattr(usage, "tag_callbacks"):
        usage.tag_callbacks = _no_callback_tag


def _no_callback_tag(callbacks: Any) -> bool:
    return False


__all__ = ["SNAPSHOT_PERIOD_S", "WORKER_NICENESS_ENV", "RaySession", "driver_env", "init_ray",
           "skip_callback_usage_tag", "tune_trial_dirname"]

"""Starting or joining Ray for a sweep, and the driver-side settings Tune reads when it starts.

A local instance listens on 127.0.0.1 only: ``demp.sweep``'s package import sets
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before Ray is first imported (the CLI sets it first for a
spec that joins a cluster off this machine), and ``init_ray`` refuses an instance that would
listen elsewhere.
"""

from __future__ import annotations

import logging
import os

import optuna
import ray

from demp.errors import ConfigError
from demp.spec.cluster import effective_address
from demp.spec.schema import SweepSpec

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
        ray.init(num_cpus=spec.ray.num_cpus, num_gpus=spec.ray.num_gpus, **quiet)
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


__all__ = ["SNAPSHOT_PERIOD_S", "WORKER_NICENESS_ENV", "driver_env", "init_ray"]

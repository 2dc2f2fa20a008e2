"""Tracking: W&B runs for trials and sweeps (``wandb``), dashboards as code (``dashboards``).

Nothing here is imported by the trainer; the sweep attaches these through callbacks. Importing
this package does not import ``wandb`` (that happens when a run starts).
"""

from demp.track.wandb import (
    OfflineRun,
    SweepRunLogger,
    WandbTrialCallback,
    api_key_configured,
    find_offline_runs,
    iter_transaction_log,
    read_offline_run,
    resolve_mode,
    settings_kwargs,
    sweep_run_id,
    trial_run_id,
)

__all__ = [
    "OfflineRun",
    "SweepRunLogger",
    "WandbTrialCallback",
    "api_key_configured",
    "find_offline_runs",
    "iter_transaction_log",
    "read_offline_run",
    "resolve_mode",
    "settings_kwargs",
    "sweep_run_id",
    "trial_run_id",
]

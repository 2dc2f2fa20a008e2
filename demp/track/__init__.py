"""Tracking with W&B: runs for trials and sweeps, and the team's workspace as code.

Modules, one job each:

- ``keys``             the W&B keys logged and the rows built from the trainer's records
- ``wandb``            modes, run ids, secrets, and ``GuardedRun`` (a W&B failure never fails
                       training)
- ``trial_run``        ``WandbTrialCallback``: one run per trial
- ``sweep_run``        ``SweepRunLogger``: the sweep's own run (frontier, hypervolume, counts)
- ``wandb_log``        reads a run's ``.wandb`` transaction log back, without network
- ``wandb_workspace``  the team's W&B workspace and report as code (wandb-workspaces)

Figures come from ``demp.results`` (the same plots as ``frontier.png`` and the offline report);
nothing here imports the sweep service or is imported by the trainer: the sweep attaches these
through callbacks. Importing this package does not import ``wandb`` (that happens when a run
starts).
"""

from demp.track.sweep_run import SweepRunLogger
from demp.track.trial_run import WandbTrialCallback
from demp.track.wandb import (
    GuardedRun,
    api_key_configured,
    resolve_mode,
    settings_kwargs,
    sweep_run_id,
    trial_run_id,
)
from demp.track.wandb_log import (
    OfflineRun,
    find_offline_runs,
    iter_transaction_log,
    read_offline_run,
)

__all__ = [
    "GuardedRun",
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

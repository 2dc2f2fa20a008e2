"""The sweep service: Ray Tune runs a spec's trials, Optuna chooses their hyperparameters.

    from demp.sweep import load_spec, run_sweep, resume_sweep

    outcome = run_sweep(load_spec("sweeps/digits-quick.yaml"))   # a demp.results.SweepOutcome

One module per job (the spec and the sweep directory are ``demp.spec``; reading results back is
``demp.results``):

- ``runner``            ``run_sweep`` / ``resume_sweep`` / ``replicate_sweep``: the sweep
                        directory, study and Tuner
- ``replicates``        search configurations re-run on further seeds (Ray trials, no sampler)
- ``driver_log``        Ray's own log lines to the sweep's driver.log while a driver runs
- ``search``            the Optuna sampler factory and the searcher adapter
- ``scheduler``         early stopping: Pareto ASHA (and the spec's choice of scheduler)
- ``trial``             what runs inside one Ray trial: train through ``build_trainer``, report
- ``monitor``           the driver's ledger, frontier files, W&B sweep run, display protocol
- ``recovery``          what a resumed driver reconciles after a crash
- ``ledger_repair``     trials.jsonl records rebuilt on resume from the study and Ray's results
- ``damage``            what ``status`` checks before it calls a sweep done: do the ledgers agree
- ``ray_setup``         starting or joining Ray on loopback, driver-side Tune settings
- ``optuna_dashboard``  optuna-dashboard on a sweep's study (``demp sweep dashboard``)

Importing this package does not import Ray: a local Ray instance must bind 127.0.0.1, which Ray
decides when it is first imported, so the setting comes first here (the CLI sets it earlier for a
spec that joins a cluster off this machine) and the Ray-importing names load on first use.
"""

import os
import sys
from typing import TYPE_CHECKING, Any

if "ray" not in sys.modules and not os.environ.get("RAY_ADDRESS"):
    # Must precede the first `import ray`: Ray then binds its local instance to 127.0.0.1.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from demp.spec import SweepSpec, dump_spec, load_spec, validate_spec  # noqa: E402

if TYPE_CHECKING:
    from demp.sweep.runner import replicate_sweep, resume_sweep, run_sweep
    from demp.sweep.scheduler import ParetoAsha
    from demp.sweep.search import make_sampler
    from demp.sweep.trial import demp_trial


def __getattr__(name: str) -> Any:
    """The Ray-importing names, imported on first use (PEP 562)."""
    if name in ("run_sweep", "resume_sweep", "replicate_sweep"):
        from demp.sweep import runner as module
    elif name == "demp_trial":
        from demp.sweep import trial as module
    elif name == "ParetoAsha":
        from demp.sweep import scheduler as module
    elif name == "make_sampler":
        from demp.sweep import search as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)


__all__ = ["ParetoAsha", "SweepSpec", "demp_trial", "dump_spec", "load_spec", "make_sampler",
           "replicate_sweep", "resume_sweep", "run_sweep", "validate_spec"]

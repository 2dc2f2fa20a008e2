"""demp: Pareto sweeps of Demon Pruning (DemP) — a PyTorch trainer, a Ray Tune + Optuna sweep
service, W&B tracking, and the results read back.

Packages, bottom to top; each imports only those below it (``docs/architecture.md``):

- ``demp.errors``, ``demp.dotted``, ``demp.registry``, ``demp.pareto``  leaves
- ``demp.config``    the trainer config (pydantic)
- ``demp.models``, ``demp.data``, ``demp.spec`` (the sweep spec and directory)
- ``demp.train``     the training loop, DemP's parts, checkpoints
- ``demp.methods``   DemP and the baselines as strategies; ``build_trainer``
- ``demp.results``   a sweep's trials, frontier, comparisons, exports, report
- ``demp.track``     W&B
- ``demp.sweep``     ``run_sweep`` / ``resume_sweep`` (Ray Tune + Optuna)
- ``demp.cli``       the ``demp`` command
"""

__version__ = "0.1.0"

"""The DemP trainer: pure PyTorch, imports neither Ray nor W&B.

``Trainer`` is the loop; what a pruning method does arrives as a ``TrainingStrategy`` and what
observes it (Ray, W&B, progress bars, files) as ``Callback``s. Build a trainer for a config with
``demp.methods.build_trainer``. One module per job:

- ``trainer``     the loop: steps, evaluations, checkpoints; ``apply_surgery``, ``emit_prune``
- ``optim``       PyTorch's AdamW / Adam / SGD without the ``torch._dynamo`` import
- ``strategy``    the hooks a pruning method gets
- ``callbacks``   the hooks an observer gets
- ``schedules``   λ_t / σ_t and learning-rate schedules as pure functions of the step
- ``regularize``  L1 / L2 on normalization scales (or all weights)
- ``noise``       asymmetric noise on live parameters
- ``death``       dead-unit detection
- ``surgery``     physical removal of units, optimizer-state slicing
- ``controller``  target-sparsity mode: λ adapted online, removal capped
- ``metrics``     sparsities, parameter counts, FLOPs
- ``checkpoint``  architecture-carrying checkpoints, exact resume, the checkpoint cadence
- ``inference``   ``load_export``: a checkpoint's model with its input normalization, for raw data
- ``rundir``      the files of a run in ``output_dir``; one run per directory
- ``progress``    the progress bar and summary table of ``demp train``
"""

from demp.train.callbacks import Callback, CallbackList
from demp.train.checkpoint import checkpoint_due, load_model
from demp.train.inference import ExportedModel, load_export
from demp.train.rundir import JsonlLog
from demp.train.strategy import TrainingStrategy
from demp.train.trainer import Trainer, TrainingDiverged

__all__ = ["Callback", "CallbackList", "ExportedModel", "JsonlLog", "Trainer",
           "TrainingDiverged", "TrainingStrategy", "checkpoint_due", "load_export", "load_model"]

"""What ``demp sweep run`` would trip on although every field of the spec is valid on its own.

``demp.spec.checks.check_spec`` calls ``run_problems`` after the field-by-field checks, so
``validate`` refuses what ``run`` would fail on, with the field to change:

- the sweep directory: ``output_root`` (and ``<output_root>/<name>``) must be, or be creatable
  as, a directory this user writes (``demp.writable``); on a cluster only that no file is in the
  way, since the nodes' shared mount need not exist where the spec is validated;
- the local Ray instance: a trial that needs more CPUs or GPUs than ``ray.num_cpus`` /
  ``num_gpus`` give it would never start;
- the sampler: the gp sampler enumerates every value of an int or stepped parameter, and the
  grid sampler lists every combination up front, so both refuse spaces too large to list;
- the Optuna storage: the URL, its driver and the password file (``demp.spec.database``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demp.errors import shown
from demp.spec.cluster import url_scheme
from demp.spec.database import storage_problems
from demp.spec.schema import SweepSpec
from demp.writable import directory_problem

GP_MAX_VALUES = 100_000   # the gp sampler enumerates every value of a discrete parameter
GRID_MAX_POINTS = 1_000_000  # Optuna's GridSampler lists every combination up front


def discrete_values(param: Any) -> int | None:
    """How many values an int or stepped float parameter has (None: continuous or a choice)."""
    if param.type == "int":
        return (param.high - param.low) // param.step + 1
    if param.type == "float" and param.step is not None:
        return int((param.high - param.low) / param.step) + 1
    return None


def _check_sampler_space(spec: SweepSpec, space_ok: bool) -> list[str]:
    """Spaces a sampler cannot handle although each parameter is valid on its own."""
    errors = []
    if spec.sampler.name == "gp":
        for path, p in spec.space.items():
            n = discrete_values(p)
            if n is not None and n > GP_MAX_VALUES:
                errors.append(f"space.{path}: has {n} values and the gp sampler enumerates every "
                              f"value of an int or stepped parameter (at most {GP_MAX_VALUES}); "
                              f"narrow low/high, use a coarser step, or another sampler")
    if spec.sampler.name == "grid" and space_ok:
        size = spec.search_space().grid_size()
        if size > GRID_MAX_POINTS:
            errors.append(f"space: the grid has {size} points, more than {GRID_MAX_POINTS} "
                          f"(Optuna's grid sampler lists them all); use fewer grid points or "
                          f"another sampler")
    return errors


def _check_output_root(spec: SweepSpec) -> list[str]:
    """output_root and the sweep directory under it can be created and written (on a cluster,
    only that no file is in the way: the nodes' shared mount need not exist here)."""
    if url_scheme(spec.output_root) is not None:
        return []  # check_cluster says why a URL is not a sweep directory
    access = spec.ray.is_local
    problem = directory_problem(spec.output_root, check_access=access)
    if problem:
        return [f"output_root: {_path_text(spec.output_root)} {problem}; choose a directory "
                f"this user can create and write"]
    sweep_dir = spec.output_root / spec.name
    problem = directory_problem(sweep_dir, check_access=access)
    if problem:
        return [f"name: the sweep directory {_path_text(sweep_dir)} {problem}; choose another "
                f"name or output_root"]
    return []


def _path_text(path: Path) -> str:
    text = str(path)
    return text if text.isprintable() else shown(text)


def run_problems(spec: SweepSpec, space_ok: bool = True) -> list[str]:
    """"path: problem" lines for everything above; ``space_ok``: the search space passed its
    own checks (the grid's size is only computed then)."""
    errors = _check_local_resources(spec)
    errors += _check_sampler_space(spec, space_ok)
    errors += _check_output_root(spec)
    errors += storage_problems(spec.storage, local=spec.ray.is_local)
    return errors


def _check_local_resources(spec: SweepSpec) -> list[str]:
    if spec.ray.address is not None or not spec.ray.is_local:
        return []  # a cluster's resources are its own
    errors = []
    for kind, have in (("cpu", spec.ray.num_cpus), ("gpu", spec.ray.num_gpus)):
        need = getattr(spec.resources, kind)
        if have is not None and need > have:
            errors.append(f"resources.{kind}: a trial needs {need:g} {kind.upper()} but "
                          f"ray.num_{kind}s gives the local Ray instance {have}; no trial "
                          f"could start")
    return errors


__all__ = ["GP_MAX_VALUES", "GRID_MAX_POINTS", "discrete_values", "run_problems"]

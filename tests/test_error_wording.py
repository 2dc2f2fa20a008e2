"""A mistyped key is answered with the nearest field name, for trainer configs and sweep specs
alike (one rule: ``demp.errors.format_validation_error``)."""

from __future__ import annotations

import contextlib
import io

import pytest
import yaml

from demp.cli import main
from demp.config import TrainConfig
from demp.errors import nearest_field
from demp.spec import SweepSpec


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return int(code), err.getvalue()


@pytest.mark.parametrize("override, line", [
    ("demp.regularizr.peak=1",
     "demp.regularizr.peak: unknown field; did you mean demp.regularizer.peak?"),
    ("max_step=3", "max_step: unknown field; did you mean max_steps?"),
    ("optimzer.lr=0.1", "optimzer.lr: unknown field; did you mean optimizer.lr?"),
    ("model.hiden=[8]", "model.hiden: unknown field; did you mean model.hidden?"),
    ("demp.death.prune_intervl=5",
     "demp.death.prune_intervl: unknown field; did you mean demp.death.prune_interval?"),
    # the section is right, the setting under it is not: the section is what is suggested
    ("demp.regularizr.bogus=1",
     "demp.regularizr.bogus: unknown field; did you mean demp.regularizer?"),
    ("demp.bogus=1", "demp.bogus: unknown field"),   # nothing close: no guess
])
def test_train_suggests_the_nearest_field(tmp_path, override, line):
    code, err = run_cli(["train", "--quiet", "--output-dir", str(tmp_path / "run"),
                         "--set", override])
    assert (code, err) == (2, f"error: config: {line}\n")
    assert not (tmp_path / "run").exists()


def good_spec(tmp_path) -> dict:
    return {"name": "s", "output_root": str(tmp_path), "trials": 2,
            "base": {"model": {"name": "mlp", "hidden": [8]}, "max_steps": 5, "device": "cpu"},
            "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0}}}


@pytest.mark.parametrize("change, line", [
    (lambda d: d.update(max_concurent=2),
     "max_concurent: unknown field (not part of the spec); did you mean max_concurrent?"),
    (lambda d: d["base"].update(demp={"regularizr": {"peak": 1, "kind": "l2"}}),
     "base.demp.regularizr: unknown field (not part of the spec); did you mean "
     "base.demp.regularizer?"),
    (lambda d: d["space"]["demp.regularizer.peak"].update(hgh=2),
     "space.demp.regularizer.peak.hgh: unknown field (not part of the spec); did you mean "
     "space.demp.regularizer.peak.high?"),
    (lambda d: d.update(objectives=[{"metric": "val_acc", "directon": "maximize"}]),
     "objectives.0.directon: unknown field (not part of the spec); did you mean "
     "objectives.0.direction?"),
    (lambda d: d.update(bogus=1), "bogus: unknown field (not part of the spec)"),
])
def test_sweep_spec_suggests_the_nearest_field(tmp_path, change, line):
    data = good_spec(tmp_path)
    change(data)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    code, err = run_cli(["sweep", "validate", str(spec)])
    assert (code, err) == (2, f"error: config: {line}\n")


def test_nearest_field_walks_sections_lists_dicts_and_union_tags():
    assert nearest_field(TrainConfig, ["demp"], "regularizr") == "regularizer"
    assert nearest_field(TrainConfig, ["baseline", "slimming"], "threshhold") == "threshold"
    assert nearest_field(SweepSpec, ["objectives", "0"], "metrc") == "metric"
    assert nearest_field(SweepSpec, ["space", "x.y", "float"], "lw") == "low"
    assert nearest_field(SweepSpec, ["base", "demp"], "zzz") is None
    assert nearest_field(SweepSpec, ["no", "such", "place"], "low") is None

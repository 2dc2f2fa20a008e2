"""No input crashes the CLI: every bad spec and every bad trainer override is answered with exit
status 2 and a line naming its field path (or the file), never a traceback.

The generators walk the pydantic models themselves (``leaf_fields``), so every scalar field of
the sweep spec and the trainer config, including ones added later, is fed values that cannot be
valid for its type: wrong types, values past its bounds, non-finite numbers, integers beyond 64
bits or beyond what a float holds, strings for numbers and numbers for strings. Around them come
whole-file damage (bytes that are not UTF-8, UTF-16 without a byte-order mark, stray bytes,
UTF-32), pathological structure (nesting past the limit or past the parser's recursion, alias
bombs, a list that contains itself, a non-mapping top level, unknown keys, a section replaced by
a scalar) and unusable output paths (a file, under a file, a device, a NUL byte, an over-long
name). ``validate`` and ``run`` must both refuse each one before anything is created.

Everything runs in-process through ``demp.cli.main`` (the console script's entry point); one
test runs the installed ``demp`` script for a few of them to check the real exit status.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import annotated_types
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from demp.cli import main
from demp.config import TrainConfig
from demp.spec import SweepSpec

# ------------------------------------------------------------------------------ the models' leaves


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(type, constraint metadata, optional) of a field annotation."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            args = typing.get_args(annotation)
            annotation, metadata = args[0], metadata + list(args[1:])
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, metadata, optional
            annotation = args[0]
        else:
            return annotation, metadata, optional


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metadata:
        for item in getattr(m, "metadata", [m]):
            for name in ("ge", "gt", "le", "lt"):
                if isinstance(item, getattr(annotated_types, name.capitalize())):
                    out[name] = getattr(item, name)
    return out


def leaf_fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, Any]]:
    """(dotted path, kind, detail) of every scalar field reachable through sections; kind is
    int / float / bool / literal / str / path / int_item (an item of a list of ints)."""
    leaves = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        ann, meta, _ = _unwrap(info.annotation)
        meta = meta + list(info.metadata)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            leaves += leaf_fields(ann, f"{path}.")
        elif typing.get_origin(ann) is Literal:
            leaves.append((path, "literal", typing.get_args(ann)))
        elif ann is bool:
            leaves.append((path, "bool", None))
        elif ann is int:
            leaves.append((path, "int", _bounds(meta)))
        elif ann is float:
            leaves.append((path, "float", _bounds(meta)))
        elif ann is str:
            leaves.append((path, "str", None))
        elif ann is Path:
            leaves.append((path, "path", None))
        elif typing.get_origin(ann) in (list, tuple):
            item, item_meta, _ = _unwrap(typing.get_args(ann)[0])
            if isinstance(item, type) and issubclass(item, BaseModel):
                leaves += leaf_fields(item, f"{path}.0.")
            elif item is int:
                leaves.append((f"{path}.0", "int_item", _bounds(item_meta)))
            elif item is float:
                leaves.append((f"{path}.0", "float_item", _bounds(item_meta)))
    return leaves


# Fields whose value is not checked against a type we can violate with a scalar, or whose
# invalid values are covered by dedicated strategies below.
FREE_TEXT = {"description", "wandb.project", "wandb.entity", "storage", "ray.address",
             "study_name", "name"}
SPEC_LEAVES = [leaf for leaf in leaf_fields(SweepSpec)
               if not leaf[0].startswith("base.") and leaf[0] not in FREE_TEXT
               and leaf[1] != "path"]
TRAIN_LEAVES = [leaf for leaf in leaf_fields(TrainConfig) if leaf[1] != "path"]

HUGE_INTS = [2**64, 2**70, 10**30, -(2**64), -(10**30)]
BEYOND_FLOAT = [10**400, -(10**400)]
NON_FINITE = [math.inf, -math.inf, math.nan]
WRONG_SHAPES = [[1, 2], {"a": 1}, [[1]], {"x": [1]}]
WORDS = ["abc", "ten", "", "1.5.3", "0x", "--", "∞", "nan?", "yes please"]


def bad_values(kind: str, detail: Any) -> st.SearchStrategy[Any]:
    """Values that are invalid for a field of ``kind`` whatever its bounds."""
    common = [st.sampled_from(WRONG_SHAPES)]
    if kind in ("int", "int_item"):
        return st.one_of(*common, _out_of_bounds(detail, integer=True),
                         st.sampled_from(HUGE_INTS + NON_FINITE + BEYOND_FLOAT),
                         st.sampled_from(WORDS), st.sampled_from([0.5, 1.25, -2.75]))
    if kind in ("float", "float_item"):
        return st.one_of(*common, _out_of_bounds(detail, integer=False),
                         st.sampled_from(NON_FINITE + BEYOND_FLOAT), st.sampled_from(WORDS))
    if kind == "bool":
        return st.one_of(*common, st.sampled_from(["maybe", "sure", "2", 2, -1, 0.5, "truth"]))
    if kind == "literal":
        return st.one_of(*common, st.text(min_size=1, max_size=12).filter(
            lambda s: s not in detail and s.lower() not in [str(d).lower() for d in detail]),
            st.sampled_from([1, 2.5, True]).filter(lambda v: v not in detail))
    return st.one_of(*common, st.sampled_from([1, 2.5, True]))  # str fields reject numbers


def _out_of_bounds(bounds: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    values = []
    step = 1 if integer else 1e-9
    for name, b in bounds.items():
        if name == "ge":
            values += [b - step, b - 1000]
        elif name == "gt":
            values += [b, b - 1]
        elif name == "le":
            values += [b + step if integer or b < 1e9 else b * 2, b * 10 + 10]
        elif name == "lt":
            values += [b, b + 1]
    values = [v for v in values if not (integer and isinstance(v, float) and v != int(v))]
    return st.sampled_from(values) if values else st.nothing()


# ------------------------------------------------------------------------------ good inputs


def good_spec(root: Path) -> dict[str, Any]:
    return {
        "name": "bad-input",
        "output_root": str(root / "out"),
        "base": {"model": {"name": "mlp", "hidden": [16]}, "data": {"name": "digits"},
                 "device": "cpu", "max_steps": 20},
        "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 3.0, "log": True},
                  "demp.death.prune_interval": {"low": 5, "high": 50}},
        "objectives": [{"metric": "val_acc"}, {"metric": "param_sparsity"}],
        "trials": 2,
        "sampler": {"name": "random", "seed": 0},
        "wandb": {"mode": "disabled"},
    }


def set_at(data: dict[str, Any], path: str, value: Any) -> None:
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise AssertionError(f"{path}: {part} is not a section")
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


# ------------------------------------------------------------------------------ bad specs

FILE = "<file>"  # the expected "path" of a problem with the file as a whole


@st.composite
def bad_specs(draw: st.DrawFn, root: Path) -> tuple[bytes, str]:
    """(file content, field path the refusal must name)."""
    data = good_spec(root)
    kind = draw(st.sampled_from(["leaf", "leaf", "leaf", "base_leaf", "base_leaf", "space",
                                 "structure", "encoding", "path", "text_field"]))
    if kind in ("leaf", "base_leaf"):
        leaves = SPEC_LEAVES if kind == "leaf" else TRAIN_LEAVES
        path, leaf_kind, detail = draw(st.sampled_from(leaves))
        if kind == "base_leaf":
            path = f"base.{path}"
        if path.startswith("early_stopping."):
            data["early_stopping"] = {"kind": "asha" if path.split(".")[1] in
                                      ("metric", "direction", "grace_period", "max_t", "kind",
                                       "reduction_factor") else "pareto_asha"}
        if path.startswith("base.demp.target."):
            data["base"].setdefault("demp", {})["target"] = {"value": 0.5}
        value = draw(bad_values(leaf_kind, detail))
        if leaf_kind.endswith("_item"):  # a list item: give the whole list
            path, value = path.removesuffix(".0"), [value]
        if path == "base.output_dir":
            value = draw(st.sampled_from(["x", str(root)]))  # any value: unset in a sweep
        set_at(data, path, value)
        return _dump(data), path
    if kind == "space":
        name = draw(st.sampled_from(list(data["space"])))
        field, value = draw(st.sampled_from([
            ("low", math.inf), ("high", math.nan), ("high", -math.inf), ("low", 10**400),
            ("high", "lots"), ("low", [1]), ("log", "maybe"), ("step", 0), ("step", -1.0),
            ("step", 1e-30), ("grid_points", 10**9), ("grid_points", 1), ("type", "bogus"),
            ("when", {"data.name": math.nan}), ("when", "yes"), ("choices", [])]))
        if field == "step" and name == "demp.regularizer.peak":
            data["space"][name]["log"] = False
        data["space"][name][field] = value
        return _dump(data), f"space.{name}.{field}"
    if kind == "structure":
        how = draw(st.sampled_from(["deep", "too_deep_for_parser", "alias_bomb", "self",
                                    "top_list", "top_scalar", "unknown", "section_scalar"]))
        if how in ("deep", "too_deep_for_parser"):
            path = draw(st.sampled_from(["trials", "base.model.hidden", "space", "description",
                                         "base.demp.noise", "objectives"]))
            depth = draw(st.integers(65, 190)) if how == "deep" else draw(st.integers(201, 5000))
            set_at(data, path, "__DEEP__")
            text = ("[" * depth + "1" + "]" * depth if draw(st.booleans())
                    else "{k: " * depth + "1" + "}" * depth)
            return _dump(data).replace(b"__DEEP__", text.encode()), \
                path if how == "deep" else FILE
        if how == "alias_bomb":
            text = _dump(data).decode() + "".join(
                f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else '1, 2, 3, 4, 5, 6, 7'}]\n"
                for i in range(9))
            return text.encode(), "l5"  # where the expansion passes 100000 values
        if how == "self":
            return (_dump(data).decode() + "loop: &x [1, *x]\n").encode(), "loop"
        if how == "top_list":
            return b"- 1\n- 2\n", FILE
        if how == "top_scalar":
            return b"just words\n", FILE
        if how == "unknown":
            section = draw(st.sampled_from(["", "base.", "base.model.", "sampler.", "ray.",
                                            "space.demp.death.prune_interval."]))
            set_at(data, f"{section}bogus_key", 1)
            return _dump(data), f"{section}bogus_key"
        section = draw(st.sampled_from(["base", "base.model", "sampler", "ray", "resources",
                                        "space", "wandb", "base.demp"]))
        set_at(data, section, draw(st.sampled_from([3, "words", [1, 2]])))
        return _dump(data), section
    if kind == "encoding":
        text = _dump(data)
        how = draw(st.sampled_from(["latin1", "utf16_no_bom", "stray", "truncated", "utf32"]))
        if how == "latin1":
            data["description"] = "Démon élagage"
            return _dump(data).decode().encode("latin-1"), FILE
        if how == "utf16_no_bom":
            return text.decode().encode("utf-16-le"), FILE
        if how == "stray":
            at = draw(st.integers(0, len(text)))
            junk = bytes([0xFF]) + bytes(draw(st.lists(st.integers(0x80, 0xFF), max_size=4)))
            return text[:at] + junk + text[at:], FILE
        if how == "truncated":
            data["description"] = "é" * 3
            raw = _dump(data)
            return raw[: raw.index("é".encode()) + 1] + b"\n", FILE
        return text.decode().encode("utf-32"), FILE
    if kind == "path":
        (root / "a-file").write_text("x")
        where = draw(st.sampled_from(["output_root", "name"]))
        value = draw(st.sampled_from([str(root / "a-file"), str(root / "a-file" / "below"),
                                      "/dev/null", "/dev/null/x", str(root / ("n" * 300)),
                                      f"{root}/bad\x00byte"]))
        if where == "name":
            data["output_root"] = str(root)
            (root / "taken").write_text("a file where the sweep directory would be")
            data["name"] = "taken"
            return _dump(data), "name"
        data["output_root"] = value
        return _dump(data), "output_root"
    field, value = draw(st.sampled_from([
        ("storage", "redis://x"), ("storage", "postgresql://u:pw@h/db"), ("storage", "sqlite://"),
        ("storage", "postgresql://u@h:port/db"), ("storage", "postgresql+nodriver://u@h/db"),
        ("storage", "not a url"), ("ray.address", "not a host:xx"), ("ray.address", "h:99999"),
        ("ray.address", "ray://"), ("ray.address", "10.0.0.1"), ("name", "has space"),
        ("name", "x" * 200), ("study_name", "a/b"), ("name", 5), ("description", [1])]))
    set_at(data, field, value)
    return _dump(data), field


def _dump(data: dict[str, Any], width: int = 80) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, width=width, allow_unicode=True).encode()


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return int(code), out.getvalue(), err.getvalue()


CATEGORIES = ("config", "file", "sweep directory", "trial", "port", "storage")


def problem(line: str) -> str:
    """An ``error: <category>: <path>: <problem>`` line without its first two parts."""
    assert line.startswith("error: "), line
    category, rest = line.removeprefix("error: ").split(": ", 1)
    assert category in CATEGORIES, line
    return rest


def named_paths(stderr: str) -> list[str]:
    """The field path (or file) that starts each problem line of the CLI's error output."""
    paths = []
    for line in stderr.splitlines():  # one "error: category: path: problem" line each
        paths.append(problem(line).split(": ", 1)[0].removeprefix("--set ").strip())
    return paths


def assert_refused(code: int, stderr: str, expected: str, file: Path | None = None) -> None:
    assert "Traceback" not in stderr, stderr
    assert code == 2, (code, stderr)
    named = named_paths(stderr)
    assert named, stderr

    def related(p: str) -> bool:
        if expected == FILE:
            return file is not None and p == str(file)
        return (p == expected or p.startswith(expected + ".")
                or (expected.startswith(p + ".") and p not in ("", "<root>")))

    assert any(related(p) for p in named), (expected, stderr)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_bad_spec_is_refused_with_its_field_path(tmp_path, data):
    content, expected = data.draw(bad_specs(tmp_path))
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    for command in (["sweep", "validate", str(spec)], ["sweep", "run", str(spec), "--quiet"]):
        code, _, err = run_cli(command)
        assert_refused(code, err, expected, spec)
    assert not (tmp_path / "out").exists()  # a refused run creates nothing


# ------------------------------------------------------------------------------ bad --set values


def yaml_text(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    if isinstance(value, float) and math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if isinstance(value, str):
        return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


@st.composite
def bad_overrides(draw: st.DrawFn, root: Path) -> tuple[list[str], str]:
    """(--set arguments, the path the refusal must name)."""
    kind = draw(st.sampled_from(["leaf", "leaf", "leaf", "text", "path", "structure"]))
    if kind == "leaf":
        path, leaf_kind, detail = draw(st.sampled_from(TRAIN_LEAVES))
        extra = ["demp.target.value=0.5"] if path.startswith("demp.target.") else []
        if path.endswith(".0"):  # a list item: give the whole list
            value = [draw(bad_values(leaf_kind, detail))]
            path = path.removesuffix(".0")
        else:
            value = draw(bad_values(leaf_kind, detail))
        return [*extra, f"{path}={yaml_text(value)}"], path
    if kind == "text":
        path = draw(st.sampled_from([p for p, _, _ in TRAIN_LEAVES]))
        text = draw(st.sampled_from(["[", "{a: ", "!!python/object:os.system x", "'unclosed",
                                     "9" * 5000, "[" * 3000 + "]" * 3000, "&a [*a]",
                                     "a: b: c", "@foo", "`x`", "\t- tab"]))
        return [f"{path}={text}"], path
    if kind == "path":
        (root / "a-file").write_text("x")
        value = draw(st.sampled_from(["/dev/null", str(root / "a-file"),
                                      str(root / "a-file" / "x"), str(root / ("n" * 300)),
                                      f"{root}/nul\x00byte"]))
        return [f"output_dir={value}"], "output_dir"
    how = draw(st.sampled_from(["section", "unknown", "into_value"]))
    if how == "section":
        section = draw(st.sampled_from(["model", "data", "optimizer", "demp", "demp.noise"]))
        return [f"{section}={draw(st.sampled_from(['3', 'words', '[1, 2]']))}"], section
    if how == "unknown":
        section = draw(st.sampled_from(["", "model.", "demp.death.", "baseline.slimming."]))
        return [f"{section}bogus=1"], f"{section}bogus"
    return ["optimizer.lr=0.1", "optimizer.lr.deeper=1"], "optimizer.lr"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_bad_trainer_override_is_refused_with_its_field_path(tmp_path, data):
    overrides, expected = data.draw(bad_overrides(tmp_path))
    guard = ["--set", "max_steps=1", "--set", "eval_interval=1"]  # should one slip through
    argv = ["train", "--quiet", "--output-dir", str(tmp_path / "run"), *guard]
    for text in overrides:
        argv += ["--set", text]
    code, _, err = run_cli(argv)
    assert_refused(code, err, expected)


# ------------------------------------------------------------------------------ the issue's cases


@pytest.mark.parametrize("override, path, fragment", [
    ("space.demp.regularizer.peak.high=.inf", "space.demp.regularizer.peak.high", "finite"),
    ("objectives.0.reference=.nan", "objectives.0.reference", "finite"),
    (f"sampler.seed={2**64}", "sampler.seed", "less than or equal to 4294967295"),
    (f"ray.num_cpus={2**63}", "ray.num_cpus", "less than or equal to"),
    ("output_root=/dev/null", "output_root", "is a device, not a directory"),
    ("base.optimizer.lr=.inf", "base.optimizer.lr", "finite"),
    ("base.demp.regularizer.peak=.inf", "base.demp.regularizer.peak", "finite"),
    ("base.demp.noise.peak=.inf", "base.demp.noise.peak", "finite"),
    (f"base.seed={2**70}", "base.seed", "less than or equal to"),
    (f"base.threads={2**40}", "base.threads", "less than or equal to 1024"),
    (f"base.model.hidden=[{10**12}]", "base.model.hidden.0", "less than or equal to"),
    ("base.model.hidden=[60000, 60000, 60000]", "base.model.hidden", "weights, more than"),
    ("base.model.norm=false", "base.demp.regularizer.target", "needs model.norm=true"),
    ("ray.address=not a host:xx", "ray.address", "is not a Ray address"),
    ("resources.cpu=3", "resources.cpu", "ray.num_cpus gives the local Ray instance 2"),
    ("space.demp.death.prune_interval.high=100000000", "space.demp.death.prune_interval",
     "gp sampler enumerates"),
])
def test_each_case_of_the_issue_is_refused_at_its_field(tmp_path, override, path, fragment):
    spec = tmp_path / "spec.yaml"
    data = good_spec(tmp_path)
    data["ray"] = {"num_cpus": 2}
    if "prune_interval" in override:
        data["sampler"] = {"name": "gp", "seed": 0}
    spec.write_text(yaml.safe_dump(data))
    code, _, err = run_cli(["sweep", "validate", str(spec), "--set", override])
    assert_refused(code, err, path)
    line = next(ln for ln in err.splitlines() if path in ln)
    assert problem(line).split(": ", 1)[0] == path and fragment in line, err


def test_output_root_that_is_a_file_or_under_one_is_refused_before_run_creates_anything(
        tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    spec = tmp_path / "spec.yaml"
    for root in (blocker, blocker / "below"):
        spec.write_text(yaml.safe_dump({**good_spec(tmp_path), "output_root": str(root)}))
        for command in ("validate", "run"):
            code, _, err = run_cli(["sweep", command, str(spec)])
            assert_refused(code, err, "output_root")
        assert blocker.read_text() == "not a directory"


def test_undecodable_and_utf16_files(tmp_path):
    spec = tmp_path / "spec.yaml"
    text = yaml.safe_dump({**good_spec(tmp_path), "description": "Dämon"}, allow_unicode=True)
    spec.write_bytes(text.encode("latin-1"))
    code, _, err = run_cli(["sweep", "validate", str(spec)])
    assert_refused(code, err, FILE, spec)
    assert "is not UTF-8 text (byte 0xe4 at line" in err and "save it as UTF-8" in err
    spec.write_bytes(text.encode("utf-16"))  # with a byte-order mark: YAML allows it
    code, out, err = run_cli(["sweep", "validate", str(spec)])
    assert code == 0 and "valid" in out, err


def test_deep_nesting_and_alias_bombs_are_measured_not_walked(tmp_path):
    spec = tmp_path / "spec.yaml"
    data = good_spec(tmp_path)
    spec.write_text(yaml.safe_dump(data) + "x: " + "[" * 5000 + "]" * 5000 + "\n")
    code, _, err = run_cli(["sweep", "validate", str(spec)])
    assert_refused(code, err, FILE, spec)
    assert "nested more than 200 brackets deep" in err
    bomb = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else '1'}]\n"
                   for i in range(12))            # 9**11 values once expanded
    spec.write_text(yaml.safe_dump(data) + bomb)
    code, _, err = run_cli(["sweep", "validate", str(spec)])
    assert_refused(code, err, "l5")
    assert "expands to more than 100000 values" in err


def test_trainer_divergence_missing_device_and_paths_get_one_line_each(tmp_path):
    base = ["train", "--quiet", "--set", "max_steps=3", "--set", "eval_interval=1"]
    code, _, err = run_cli([*base, "--output-dir", str(tmp_path / "a"),
                            "--set", "optimizer.lr=1e30"])
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("error: training: diverged: training loss is nan at step")
    assert (tmp_path / "a" / "metrics.jsonl").is_file()  # what ran so far is kept
    code, _, err = run_cli([*base, "--output-dir", "/dev/null"])
    assert (code, err) == (2, "error: config: --output-dir: /dev/null is a device, not a directory; "
                              "choose a directory this user can create and write\n")
    if not torch.cuda.is_available():
        code, _, err = run_cli([*base, "--output-dir", str(tmp_path / "b"),
                                "--set", "device=cuda"])
        assert code == 2 and err.startswith("error: config: device: cuda requested but no CUDA device "
                                            "is available") and len(err.splitlines()) == 1, err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    code, _, err = run_cli([*base, "--output-dir", str(tmp_path / "c"),
                            "--resume", str(tmp_path / "junk")])
    assert code == 2 and err.startswith(f"error: file: --resume: {tmp_path / 'junk'} is not a "
                                        f"readable demp checkpoint"), err


def test_the_console_script_exits_2_without_a_traceback(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(good_spec(tmp_path)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for argv in (["sweep", "run", str(spec), "--set", "sampler.seed=18446744073709551616"],
                 ["train", "--set", "epochs=.inf", "--set", "threads=1099511627776"]):
        proc = subprocess.run([sys.executable, "-m", "demp", *argv], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("error: "), proc.stderr
    assert not (tmp_path / "out").exists()


def test_leaf_walk_covers_the_models():
    """The generators reach every kind of field (a guard against a silently empty walk)."""
    kinds = {k for _, k, _ in SPEC_LEAVES + TRAIN_LEAVES}
    assert {"int", "float", "bool", "literal", "int_item"} <= kinds
    assert any(p == "optimizer.lr" for p, _, _ in TRAIN_LEAVES)
    assert any(p == "sampler.seed" for p, _, _ in SPEC_LEAVES)
    assert len(TRAIN_LEAVES) > 50 and len(SPEC_LEAVES) > 15


# ------------------------------------------------------------------------------ the limits hold


@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc", "nsga2"])
def test_the_extremes_validate_accepts_work_in_optuna(tmp_path, sampler):
    """What validation lets through at its limits, Optuna samples without error: the largest
    seed, an int range across int64, the finest float step. (The gp sampler, which enumerates
    discrete ranges and is refused beyond GP_MAX_VALUES, takes tens of seconds per trial on a
    2-core machine even for small ranges, so it is left out here.)"""
    import optuna

    from demp.spec import validate_spec
    from demp.spec.space import MAX_STEPS, apply_params
    from demp.sweep.search import make_sampler

    data = good_spec(tmp_path)
    data["sampler"] = {"name": sampler, "seed": 2**32 - 1, "n_startup_trials": 1,
                       "population_size": 2}
    if sampler != "tpe":
        del data["sampler"]["n_startup_trials"]
    if sampler != "nsga2":
        del data["sampler"]["population_size"]
    data["base"]["seed"] = 0
    data["space"] = {
        "seed": {"low": 0, "high": 2**63 - 1},
        "demp.noise.peak": {"low": 0.0, "high": 1.0, "step": 1 / MAX_STEPS}}
    spec = validate_spec(data)
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler(spec))
    for i in range(3):
        trial = study.ask()
        spec.search_space()(trial)
        cfg = TrainConfig.model_validate(apply_params(spec.base.model_dump(mode="json"),
                                                      trial.params))
        assert 0 <= cfg.seed <= 2**63 - 1 and 0 <= cfg.demp.noise.peak <= 1
        study.tell(trial, [0.5 + i / 10, 0.1 * i])
    data["space"]["seed"]["high"] = 2**63
    with pytest.raises(Exception, match="space.seed.high: Input should be less than or equal to"):
        validate_spec(data)

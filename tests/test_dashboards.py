"""Dashboards as code: built without saving, and every key they read is one the loggers write."""

from __future__ import annotations

import argparse
import json
import re
import socket
import warnings
from pathlib import Path
from typing import Any

import pytest

from demp.cli import workspace as workspace_cli
from demp.track import wandb_workspace as dash
from demp.track import keys as track

try:
    with warnings.catch_warnings():  # its pydantic-v1-style validators warn at import
        warnings.simplefilter("ignore", DeprecationWarning)
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
except ImportError:  # the layout / key checks below still run
    wr = ws = None

needs_workspaces = pytest.mark.skipif(wr is None, reason="wandb-workspaces is not installed")

REQUIRED_SECTIONS = ["Pareto frontier", "Hypervolume progress", "Dead-neuron dynamics per layer",
                     "Schedules (λ_t, σ_t)", "Speed (step time vs FLOPs)"]
GROUPS = ("conv1", "layer1.0", "fc")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building dashboards must not talk to W&B: any connection attempt fails the test."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access while building dashboards: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _trial_keys() -> set[str]:
    """Every key a trial run logs (history and summary), from the callback's own row builders."""
    record = {
        "step": 40, "total_steps": 80, "final": True, "stopped_early": False,
        **{k: 0.5 for k in track.EVAL_METRICS},
        "live_units": {g: 10 for g in GROUPS}, "dead_fraction": {g: 0.1 for g in GROUPS},
    }
    event = {"step": 40, "dead": {g: 1 for g in GROUPS}, "removed": {g: 1 for g in GROUPS},
             "live_units": {g: 9 for g in GROUPS}, "detect_time": 0.1, "surgery_time": 0.2}
    keys = set(track.eval_row(record)) | set(track.prune_row(event))
    keys |= set(track.summary_values(record)) | set(track.TRIAL_END_KEYS)
    return keys


def _sweep_keys() -> set[str]:
    rows = track.sweep_rows(2, [0.1, 0.2], {"complete": 1, "truncated": 0, "failed": 1})
    return {k for r in rows for k in r} | set(track.SWEEP_MEDIA_KEYS)


def _covered(key: str, logged: set[str]) -> bool:
    """A panel key is covered if logged, or (a per-layer prefix) if some logged key has it."""
    return key in logged or (key.endswith("/") and any(k.startswith(key) for k in logged))


def test_layout_has_the_required_sections() -> None:
    names = [s.name for s in dash.DASHBOARD]
    assert names[:5] == REQUIRED_SECTIONS
    assert all(s.panels and s.description for s in dash.DASHBOARD)


def test_every_dashboard_key_is_one_the_loggers_write() -> None:
    trial, sweep = _trial_keys(), _sweep_keys()
    for section in dash.DASHBOARD:
        for panel in section.panels:
            logged = sweep if panel.source == "sweep" else trial
            missing = [k for k in panel.keys() if not _covered(k, logged)]
            assert not missing, f"{section.name} / {panel.title}: {missing}"
            if panel.y_regex:  # the regex selects exactly the per-layer keys of its prefix
                matched = {k for k in trial if re.match(panel.y_regex, k)}
                assert matched == {panel.regex_prefix + g for g in GROUPS}, panel.title


def test_dashboards_cover_the_dead_neuron_and_schedule_keys() -> None:
    read = dash.referenced_keys()
    assert {f"{track.DEAD_FRACTION}/", f"{track.LIVE_UNITS}/", "lam", "sigma", "step_time",
            "flops", track.HYPERVOLUME, track.FRONTIER_TABLE, track.LIVE_UNITS_HEATMAP,
            track.STEP_KEY, track.SWEEP_STEP_KEY} <= read


def _workspace_json(sweep: str | None) -> tuple[Any, dict[str, Any]]:
    workspace = dash.build_workspace("team", "demp", sweep)
    return workspace, workspace._to_model().model_dump(by_alias=True, exclude_none=True)


@needs_workspaces
def test_workspace_sections_panels_and_filter() -> None:
    workspace, spec = _workspace_json("digits-quick")
    assert isinstance(workspace, ws.Workspace) and workspace.name == "DemP sweep digits-quick"
    sections = spec["spec"]["section"]["panelBankConfig"]["sections"]
    assert [s["name"] for s in sections] == [s.name for s in dash.DASHBOARD]
    for built, section in zip(sections, dash.DASHBOARD):
        assert len(built["panels"]) == len(section.panels)
        titled = [p["config"].get("chartTitle") for p in built["panels"]]
        for panel, title in zip(section.panels, titled):
            if panel.kind != "table":
                assert title == panel.title
    text = json.dumps(spec)
    for key in dash.referenced_keys():
        assert key.rstrip("/") in text, key
    assert spec["spec"]["section"]["settings"]["xAxis"] == track.STEP_KEY
    (flt,) = spec["spec"]["section"]["runSets"][0]["filters"]["filters"]
    assert flt["key"] == {"section": "run", "name": "group"} and flt["value"] == "digits-quick"
    dead = sections[[s.name for s in dash.DASHBOARD].index(dash.SECTION_DEAD)]["panels"]
    assert {p["config"].get("metricRegex") for p in dead} >= {
        f"^{track.DEAD_FRACTION}/.*", f"^{track.LIVE_UNITS}/.*"}


@needs_workspaces
def test_workspace_without_sweep_shows_all_runs() -> None:
    _, spec = _workspace_json(None)
    filters = spec["spec"]["section"]["runSets"][0]["filters"]
    assert not filters.get("filters")


def _panels_by_title(report: Any) -> dict[str, Any]:
    out = {}
    for block in report.blocks:
        if isinstance(block, wr.PanelGrid):
            for p in block.panels:
                out[getattr(p, "title", None) or getattr(p, "table_name", None)] = p
    return out


@needs_workspaces
def test_report_sections_and_panels() -> None:
    report = dash.build_report("team", "demp", "digits-quick")
    assert isinstance(report, wr.Report) and report.title == "DemP: digits-quick"
    headings = [b.text for b in report.blocks if isinstance(b, wr.H2)]
    assert headings == [s.name for s in dash.DASHBOARD]
    grids = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    assert len(grids) == len(dash.DASHBOARD)
    for grid in grids:
        (runset,) = grid.runsets
        assert runset.entity == "team" and runset.project == "demp"
        assert "digits-quick" in runset.filters and "group" in runset.filters.lower()
    panels = _panels_by_title(report)
    scatter = panels["val accuracy vs parameter sparsity (trials)"]
    assert isinstance(scatter, wr.ScatterPlot)
    assert (scatter.x.name, scatter.y.name) == ("param_sparsity", "val_acc")
    hv = panels["hypervolume"]
    assert hv.x == track.SWEEP_STEP_KEY and hv.y == [track.HYPERVOLUME]
    lam = panels["λ_t (regularization)"]
    assert lam.x == track.STEP_KEY and lam.y == ["lam"] and lam.log_y
    speed = panels["step time vs FLOPs (per trial)"]
    assert speed.x == "flops" and speed.y == ["step_time"]
    assert panels["live units heat map"].media_keys == [track.LIVE_UNITS_HEATMAP]
    assert isinstance(panels[track.FRONTIER_TABLE], wr.WeavePanelSummaryTable)
    assert panels["dead fraction per layer"].metric_regex == f"^{track.DEAD_FRACTION}/.*"


def test_layout_yaml_in_dashboards_is_current() -> None:
    path = Path(__file__).resolve().parents[1] / "dashboards" / "layout.yaml"
    assert path.read_text() == dash.layout_yaml(), (
        "dashboards/layout.yaml is stale: python dashboards/publish.py layout > "
        "dashboards/layout.yaml")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demp")
    workspace_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_publish_calls_publish(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    def fake_publish(entity: str, project: str, sweep: str | None = None,
                     **kw: Any) -> dict[str, str]:
        calls.append((entity, project, sweep, kw))
        return {"workspace": "https://example.invalid/ws", "report": "https://example.invalid/r"}

    monkeypatch.setattr(dash, "publish", fake_publish)
    args = _parse(["dashboard", "publish", "--entity", "team", "--project", "demp",
                   "--sweep", "digits-quick"])
    assert args.func(args) == 0
    assert calls == [("team", "demp", "digits-quick", {"workspace": True, "report": True})]
    assert "report: https://example.invalid/r" in capsys.readouterr().out

    args = _parse(["dashboard", "publish", "--entity", "t", "--project", "p", "--only", "report"])
    args.func(args)
    assert calls[-1] == ("t", "p", None, {"workspace": False, "report": True})


def test_cli_publish_failure_is_an_exit_code_without_the_key(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("WANDB_API_KEY", key)

    def failing(*a: Any, **k: Any) -> None:
        raise PermissionError(f"key {key} may not write to team/demp")

    monkeypatch.setattr(dash, "publish", failing)
    args = _parse(["dashboard", "publish", "--entity", "team", "--project", "demp"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "team/demp" in err and "PermissionError" in err and key not in err


def test_cli_requires_entity_and_project() -> None:
    with pytest.raises(SystemExit):
        _parse(["dashboard", "publish", "--project", "demp"])

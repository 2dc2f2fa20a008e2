"""One run per output directory: ``demp train`` refuses to mix runs, ``--overwrite`` starts
clean, ``--resume`` continues with logs whose steps never go backwards."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from demp.cli import main
from demp.methods import build_trainer
from demp.train.callbacks import Callback
from demp.train.rundir import run_files, trim_logs

CONFIG: dict[str, Any] = {
    "model": {"name": "mlp", "hidden": [32, 32]}, "optimizer": {"lr": 2e-2}, "max_steps": 100,
    "eval_interval": 20, "threads": 1, "device": "cpu",
    "demp": {"regularizer": {"peak": 0.2}, "noise": {"peak": 1e-3},
             "death": {"prune_interval": 20}},
}
SAME = ("step", "val_acc", "test_acc", "train_loss", "lam", "sigma", "live_units", "params",
        "final")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return int(code), out.getvalue(), err.getvalue()


def rows(directory: Path, name: str = "metrics.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / name).read_text().splitlines()]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_a_second_run_into_the_same_directory_is_refused(tmp_path, config):
    out = tmp_path / "out"
    assert run_cli(["train", str(config), "--quiet", "--output-dir", str(out)])[0] == 0
    before = {n: (out / n).read_text() for n in ("metrics.jsonl", "prune_events.jsonl")}
    code, _, err = run_cli(["train", str(config), "--quiet", "--output-dir", str(out)])
    assert code == 2
    assert err == (f"error: config: --output-dir: {out} already holds a run (metrics.jsonl, "
                   f"prune_events.jsonl, checkpoint/, model/); pass --resume "
                   f"{out / 'checkpoint'} to continue it or --overwrite to start clean\n")
    assert {n: (out / n).read_text() for n in before} == before  # nothing touched


def test_overwrite_starts_clean_and_leaves_other_files(tmp_path, config):
    out = tmp_path / "out"
    assert run_cli(["train", str(config), "--quiet", "--output-dir", str(out)])[0] == 0
    first = rows(out)
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(["train", str(config), "--quiet", "--output-dir", str(out),
                            "--overwrite", "--set", "max_steps=60"])
    assert code == 0, err
    steps = [r["step"] for r in rows(out)]
    assert steps == [20, 40, 60] and len(first) == 5  # one run's rows, not 5 + 3
    events = [e["step"] for e in rows(out, "prune_events.jsonl")]
    assert events == [0, 20, 40, 60]
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_into_the_directory_continues_the_logs_exactly(tmp_path, config):
    """A run stopped at step 40 and resumed with ``--resume DIR/checkpoint`` (the checkpoint's
    own config) ends with the same log lines as one that never stopped."""
    whole = tmp_path / "whole"
    assert run_cli(["train", str(config), "--quiet", "--output-dir", str(whole)])[0] == 0

    class StopAt40(Callback):
        def on_eval(self, trainer, metrics):  # noqa: ANN001, ANN201
            if trainer.step == 40 and not metrics.get("final"):
                trainer.request_stop()

    parts = tmp_path / "parts"
    stopped = build_trainer(dict(CONFIG, output_dir=str(parts)), callbacks=[StopAt40()]).fit()
    assert stopped["stopped_early"] and rows(parts)[-1]["final"]  # a final row at step 40
    code, _, err = run_cli(["train", "--quiet", "--resume", str(parts / "checkpoint")])
    assert code == 0, err
    got, want = rows(parts), rows(whole)
    assert [r["step"] for r in got] == [20, 40, 60, 80, 100]
    assert [{k: r[k] for k in SAME} for r in got] == [{k: r[k] for k in SAME} for r in want]
    assert rows(parts, "prune_events.jsonl") and [
        (e["step"], e["removed"], e["live_units"]) for e in rows(parts, "prune_events.jsonl")
    ] == [(e["step"], e["removed"], e["live_units"]) for e in rows(whole, "prune_events.jsonl")]


def test_resume_and_overwrite_exclude_each_other(tmp_path, config):
    code, _, err = run_cli(["train", str(config), "--quiet", "--output-dir", str(tmp_path / "o"),
                            "--overwrite", "--resume", str(tmp_path)])
    assert code == 2 and err.startswith("error: config: --overwrite: cannot be combined with --resume")


def test_trim_logs_keeps_what_a_run_at_step_s_continues_from(tmp_path):
    metrics = [{"step": 20}, {"step": 40}, {"step": 40, "final": True}, {"step": 60}]
    events = [{"step": 0}, {"step": 20}, {"step": 40}, {"step": 60}]
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in metrics) + '{"step": 8')   # a torn last line
    (tmp_path / "prune_events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert trim_logs(tmp_path, 40, 100) == {"metrics.jsonl": 3, "prune_events.jsonl": 2}
    assert rows(tmp_path) == [{"step": 20}, {"step": 40}]
    assert rows(tmp_path, "prune_events.jsonl") == [{"step": 0}, {"step": 20}]
    # at the end of training the final check at S already ran and is kept
    (tmp_path / "prune_events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    trim_logs(tmp_path, 60, 60)
    assert [e["step"] for e in rows(tmp_path, "prune_events.jsonl")] == [0, 20, 40, 60]
    assert run_files(tmp_path) == ["metrics.jsonl", "prune_events.jsonl"]

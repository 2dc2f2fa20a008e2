"""Damaged ledgers heal on resume, from what survives; status names the damage first.

One real 4-trial sweep (loopback Ray, the real trainer on tiny digits MLPs) is run once; each
test restores it in place (its ledgers hold absolute paths), damages it the way a kill, a full
disk or a careless copy does, and checks that:

- ``demp sweep status`` reports the damage, exits 1 and does not say "done";
- ``resume`` repairs it, keeping a copy of every file it rewrites;
- afterwards the Optuna study, trials.jsonl, Ray's results and the frontier files agree, with
  every trial of the sweep recorded once (``check_agreement`` from the end-to-end tests), and
  ``status`` says "done".
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from demp.cli import main
from demp.results import TrialLog
from demp.spec import SweepPaths, open_storage, validate_spec
from demp.sweep import resume_sweep, run_sweep

sys.path.insert(0, str(Path(__file__).parent))
from test_sweep_e2e import BASE, LAMBDA, brute_hv, check_agreement, dominated  # noqa: E402

S = optuna.trial.TrialState
NAME = "healme"
PLANNED = 4


@pytest.fixture(scope="module")
def pristine(ray_address, tmp_path_factory) -> dict[str, Any]:
    """A finished sweep and a copy of its directory to restore before each test."""
    root = tmp_path_factory.mktemp("heal")
    spec = validate_spec({"name": NAME, "output_root": str(root), "base": copy.deepcopy(BASE),
                          "space": {"demp.regularizer.peak": dict(LAMBDA)}, "trials": PLANNED,
                          "max_concurrent": 2, "sampler": {"name": "random", "seed": 3},
                          "wandb": {"mode": "disabled"}})
    outcome = run_sweep(spec)
    check_agreement(outcome.paths, NAME, PLANNED)
    copy_dir = root / "pristine"
    shutil.copytree(outcome.paths.root, copy_dir, symlinks=True)
    return {"paths": outcome.paths, "copy": copy_dir,
            "records": {r.trial_id: r for r in outcome.records}}


@pytest.fixture
def sweep(pristine) -> SweepPaths:
    paths = pristine["paths"]
    shutil.rmtree(paths.root)
    shutil.copytree(pristine["copy"], paths.root, symlinks=True)
    return paths


def status(paths: SweepPaths, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["sweep", "status", str(paths.root)])
    return code, capsys.readouterr().out


def assert_damage_reported(paths: SweepPaths, capsys, *fragments: str) -> None:
    code, out = status(paths, capsys)
    assert code == 1 and "driver: done" not in out, out
    assert "demp sweep resume" in out, out
    for fragment in fragments:
        assert fragment in out, (fragment, out)


def assert_healed(paths: SweepPaths, capsys, pristine: dict[str, Any]) -> dict[str, Any]:
    got = check_agreement(paths, NAME, PLANNED)
    assert set(got["records"]) == set(pristine["records"])  # the same trials, none new
    for tid, r in got["records"].items():
        before = pristine["records"][tid]
        assert (r.status, r.params, r.number) == (before.status, before.params, before.number)
        assert r.objective_values(["val_acc", "param_sparsity"]) == \
            before.objective_values(["val_acc", "param_sparsity"])
    study = got["study"]
    best = {t.user_attrs["ray_trial_id"] for t in study.best_trials}
    assert best == got["frontier"]
    code, out = status(paths, capsys)
    assert code == 0 and "driver: done" in out and "damage" not in out, out
    return got


def backups(paths: SweepPaths, name: str) -> list[Path]:
    return sorted(paths.root.glob(f"{name}.damaged-*"))


# ------------------------------------------------------------------------------ trials.jsonl


def test_trials_log_cut_mid_file_is_rebuilt_from_the_study_and_ray(sweep, pristine, capsys):
    data = sweep.trials.read_bytes()
    # 10 bytes into the line that holds the file's midpoint: mid-line, about half the records gone
    cut = data.rfind(b"\n", 0, len(data) // 2) + 1 + 10
    sweep.trials.write_bytes(data[:cut])
    survivors = len(TrialLog(sweep.trials).records())
    assert survivors < PLANNED
    assert_damage_reported(sweep, capsys, "trials.jsonl: line", "is damaged (torn",
                           "finished in the study are not recorded")
    outcome = resume_sweep(sweep.root)
    rebuilt = [n for n in outcome.notes if "re-recorded from optuna + Ray's experiment state" in n]
    assert len(rebuilt) == PLANNED - survivors, outcome.notes
    assert backups(sweep, "trials.jsonl")[0].read_bytes() == data[:cut]
    got = assert_healed(sweep, capsys, pristine)
    for tid, r in got["records"].items():  # checkpoints and failures come back from Ray
        assert r.checkpoint == pristine["records"][tid].checkpoint
        assert r.failures == pristine["records"][tid].failures


def test_a_torn_last_line_of_the_trials_log(sweep, pristine, capsys):
    data = sweep.trials.read_bytes()
    sweep.trials.write_bytes(data[:-25])
    assert_damage_reported(sweep, capsys, "is damaged (torn: no line end)")
    outcome = resume_sweep(sweep.root)
    assert sum("re-recorded" in n for n in outcome.notes) == 1, outcome.notes
    assert_healed(sweep, capsys, pristine)


def test_bytes_that_are_not_utf8_in_the_trials_log(sweep, pristine, capsys):
    lines = sweep.trials.read_bytes().split(b"\n")
    lines[1] = b"\xff\xfe" + lines[1][2:]                  # a line of bad bytes mid-file
    sweep.trials.write_bytes(b"\n".join(lines))
    assert_damage_reported(sweep, capsys, "trials.jsonl: line 2 is damaged (not UTF-8 at byte 0)")
    outcome = resume_sweep(sweep.root)
    assert any("dropped 1 damaged line(s): 2 (not UTF-8" in n for n in outcome.notes)
    assert_healed(sweep, capsys, pristine)


# ------------------------------------------------------------------------------ the journal


def _journal_lines(paths: SweepPaths) -> list[bytes]:
    return paths.journal.read_bytes().splitlines(keepends=True)


def test_a_torn_journal_tell_leaves_no_trial_running(sweep, pristine, capsys):
    """The last tell of the journal torn (and what followed it lost): its trial would stay
    RUNNING for ever; resume tells it its recorded outcome, so study.best_trials matches
    frontier.json again."""
    lines = _journal_lines(sweep)
    last_tell = max(i for i, ln in enumerate(lines) if json.loads(ln)["op_code"] == 6)
    torn = b"".join(lines[:last_tell]) + lines[last_tell][: len(lines[last_tell]) // 2]
    sweep.journal.write_bytes(torn)
    running = optuna.load_study(study_name=NAME, storage=open_storage(None, sweep)).get_trials(
        states=[S.RUNNING])
    assert len(running) == 1
    assert_damage_reported(sweep, capsys, "optuna.journal: the last line", "still running in "
                           "the study although no driver runs")
    outcome = resume_sweep(sweep.root)
    assert any("told its recorded outcome (complete)" in n for n in outcome.notes), outcome.notes
    assert backups(sweep, "optuna.journal")[0].read_bytes() == torn
    assert_healed(sweep, capsys, pristine)


def test_bytes_that_are_not_utf8_in_the_journal(sweep, pristine, capsys):
    """A trial's creation line overwritten mid-file (Optuna would raise UnicodeDecodeError on
    every read, and dropping the line would shift every later trial onto its neighbour), plus
    stray bytes at the end: the creation is re-made in place and the trial keeps its
    parameters, attributes and outcome."""
    lines = _journal_lines(sweep)
    creates = [i for i, ln in enumerate(lines) if json.loads(ln)["op_code"] == 4]
    hit = creates[1]
    lines[hit] = b"\xff" * (len(lines[hit]) - 1) + b"\n"
    sweep.journal.write_bytes(b"".join(lines) + b"\x80\x81 garbage\n")
    assert_damage_reported(sweep, capsys, f"line {hit + 1} of {len(lines) + 1} (not UTF-8 at "
                           f"byte 0", "the last line (not UTF-8")
    outcome = resume_sweep(sweep.root)
    assert any("dropped 2 damaged line(s)" in n and "re-created 1 lost creation" in n
               for n in outcome.notes), outcome.notes
    assert_healed(sweep, capsys, pristine)


# ------------------------------------------------------------------------------ derived files


def test_deleted_frontier_files_are_rewritten(sweep, pristine, capsys):
    before = json.loads(sweep.frontier_json.read_text())
    for f in (sweep.frontier_json, sweep.frontier_csv, sweep.frontier_png):
        f.unlink()
    assert_damage_reported(sweep, capsys, "frontier.json, frontier.csv, frontier.png: missing")
    resume_sweep(sweep.root)
    assert_healed(sweep, capsys, pristine)
    after = json.loads(sweep.frontier_json.read_text())
    assert after["frontier"] == before["frontier"] and after["hypervolume"] == before["hypervolume"]


def test_removed_ray_results_keep_every_record_and_say_what_is_lost(sweep, pristine, capsys):
    """ray/ gone (and with it every checkpoint): the records and the study survive and still
    agree; status says which files are lost instead of "done"; trials.jsonl cut as well is
    rebuilt from the study alone."""
    shutil.rmtree(sweep.ray)
    data = sweep.trials.read_bytes()
    sweep.trials.write_bytes(data[: data.index(b"\n") + 1])  # one record left
    code, out = status(sweep, capsys)
    assert code == 1 and "lost: ray/: missing" in out and "driver: done" not in out, out
    outcome = resume_sweep(sweep.root)
    assert sum("re-recorded from optuna" in n for n in outcome.notes) == PLANNED - 1
    records = {r.trial_id: r for r in TrialLog(sweep.trials).records()}
    assert set(records) == set(pristine["records"])
    study = optuna.load_study(study_name=NAME, storage=open_storage(None, sweep))
    assert all(t.state != S.RUNNING for t in study.trials)
    for t in study.trials:
        r = records[t.user_attrs["ray_trial_id"]]
        assert r.params == t.params and r.number == t.number
        if t.state == S.COMPLETE:
            assert r.objective_values(["val_acc", "param_sparsity"]) == t.values
    doc = json.loads(sweep.frontier_json.read_text())
    complete = {t.user_attrs["ray_trial_id"]: t.values for t in study.trials
                if t.state == S.COMPLETE}
    front = {tid for tid, v in complete.items() if not dominated(v, list(complete.values()))}
    assert {row["trial_id"] for row in doc["frontier"]} == front
    assert {t.user_attrs["ray_trial_id"] for t in study.best_trials} == front
    assert doc["hypervolume"] == pytest.approx(brute_hv(list(complete.values()), [0.1, 0.0]),
                                               abs=1e-12)
    code, out = status(sweep, capsys)
    assert code == 1 and "lost: checkpoints:" in out and "driver: done" not in out, out
    assert "damage:" not in out, out  # nothing left that resume could repair


def test_a_deleted_journal_is_reported_and_resume_refuses_without_touching_the_records(
        sweep, pristine, capsys):
    """No ledger holds the study itself: status says so, resume refuses with what to do, and
    trials.jsonl is left as it was."""
    from demp.config import ConfigError

    sweep.journal.unlink()
    records = sweep.trials.read_bytes()
    code, out = status(sweep, capsys)
    assert code == 1 and "lost: optuna.journal: missing" in out and "driver: done" not in out
    with pytest.raises(ConfigError, match="copy trials.jsonl elsewhere, then start it again"):
        resume_sweep(sweep.root)
    assert sweep.trials.read_bytes() == records

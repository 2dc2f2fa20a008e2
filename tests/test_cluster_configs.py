"""Cluster configs and cluster rules, checked without a cloud or a Kubernetes cluster.

- Ray cluster launcher configs (cluster/aws-gpu.yaml, cluster/gcp-gpu.yaml) against the JSON
  schema that ships inside Ray (ray/autoscaler/ray-schema.json) and Ray's own ``prepare_config`` /
  ``validate_config`` (what ``ray up`` runs before it calls the cloud), then on values: a CPU head,
  autoscaling GPU workers with 1 and 8 GPUs, the project's image, the shared mount.
- KubeRay manifests (cluster/kuberay/) for the fields the RayCluster / RayJob CRDs require and
  the ones this project relies on: token authentication, a GPU worker group, shared storage for
  results, the sweep as the RayJob's entrypoint.
- The cluster rules of demp/spec/cluster.py, through spec validation, one line per problem;
  and every documented cluster command's spec passes them in the environment its config gives.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from packaging.version import Version
from ray.autoscaler._private.util import prepare_config, validate_config

from demp.config import ConfigError
from demp.spec.cluster import (
    check_cluster, cluster_address, declared_shared_paths, effective_address, url_scheme,
)
from demp.spec import apply_spec_overrides, dump_spec, validate_spec

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = {"aws": ROOT / "cluster" / "aws-gpu.yaml", "gcp": ROOT / "cluster" / "gcp-gpu.yaml"}
KUBERAY = ROOT / "cluster" / "kuberay"
IMAGE_ROOT = "/home/ray/demp"        # WORKDIR of docker/Dockerfile: the repository's files
SHARED = "/mnt/demp"                  # the shared mount of every cluster config
CLUSTER_ENV = {"RAY_ADDRESS": "10.0.0.1:6379"}   # what a Ray job's entrypoint sees


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def ray_pin() -> str:
    (line,) = [ln for ln in (ROOT / "constraints.txt").read_text().splitlines()
               if ln.startswith("ray==")]
    return line.split("==")[1].strip()


def gpu_image_ok(image: str) -> bool:
    """The image built from docker/Dockerfile, pushed to some registry."""
    return image.endswith(f"/demp:{version()}-gpu")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No cluster address or shared-path declaration from the developer's shell."""
    for var in ("RAY_ADDRESS", "DEMP_SHARED_PATHS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def entrypoint_errors(command: str, environ: dict[str, str],
                      monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Validate ``demp sweep run SPEC [--set ...]`` as its cluster would: the spec path inside
    the image maps to this repository, ``environ`` is the container's environment."""
    argv = shlex.split(command)
    assert argv[:3] == ["demp", "sweep", "run"], command
    spec_path = argv[3]
    assert spec_path.startswith(f"{IMAGE_ROOT}/sweeps/"), spec_path
    overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert len(argv) == 4 + 2 * len(overrides), f"unexpected arguments in {command!r}"
    data = yaml.safe_load((ROOT / spec_path.removeprefix(f"{IMAGE_ROOT}/")).read_text())
    apply_spec_overrides(data, overrides)
    for var, value in environ.items():
        monkeypatch.setenv(var, value)
    try:
        validate_spec(data)
    except ConfigError as err:
        return str(err).splitlines()
    return []


# ------------------------------------------------------------------------------ cluster rules


def spec_data(**fields: object) -> dict:
    data = {"name": "c", "base": {"model": {"name": "mlp"}, "data": {"name": "digits"}},
            "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0, "log": True}},
            "trials": 2}
    data.update(fields)
    return data


def errors_of(data: dict) -> list[str]:
    try:
        validate_spec(data)
    except ConfigError as err:
        return str(err).splitlines()
    return []


def test_addresses_that_keep_trials_on_this_machine(clean_env):
    for local in (None, "127.0.0.1:6379", "localhost:6379", "ray://127.0.0.1:10001",
                  "[::1]:6379"):
        assert cluster_address(local) is None, local
    assert cluster_address("auto") == "auto"
    assert cluster_address("10.0.0.1:6379") == "10.0.0.1:6379"
    assert cluster_address("ray://head.svc:10001") == "ray://head.svc:10001"
    # A Ray job's entrypoint: RAY_ADDRESS counts when the spec names none, or says auto.
    env = {"RAY_ADDRESS": "10.0.0.1:6379"}
    assert effective_address(None, env) == effective_address("auto", env) == "10.0.0.1:6379"
    assert effective_address("10.9.9.9:6379", env) == "10.9.9.9:6379"
    assert cluster_address(None, {"RAY_ADDRESS": "127.0.0.1:6379"}) is None


def test_url_outputs_and_declared_mounts_are_read_as_written(clean_env):
    assert url_scheme(Path("s3://bucket/sweeps")) == "s3"      # pathlib made it s3:/bucket/...
    assert url_scheme("gs://bucket") == "gs"
    assert url_scheme("/mnt/demp/sweeps") is None and url_scheme("sweeps_out") is None
    env = {"DEMP_SHARED_PATHS": "/mnt/a/:relative:/mnt/b/../c"}
    assert [str(p) for p in declared_shared_paths([Path("/efs")], env)] == \
        ["/efs", "/mnt/a", "/mnt/c"]


def test_local_sweeps_are_free_to_write_anywhere(clean_env):
    assert errors_of(spec_data()) == []
    assert errors_of(spec_data(output_root="/data/sweeps", storage="sqlite:///s.db")) == []
    assert errors_of(spec_data(ray={"address": "127.0.0.1:6379"})) == []


def test_object_store_outputs_are_refused_everywhere_with_the_reason(clean_env):
    for root in ("s3://bucket/sweeps", "gs://bucket/sweeps"):
        for ray_section in ({}, {"address": "auto", "shared_paths": ["/mnt/demp"]}):
            (line,) = errors_of(spec_data(output_root=root, ray=ray_section))
            scheme = root.split(":")[0]
            assert line.startswith(f"output_root: {scheme}:// is not supported as a sweep "
                                   f"directory: the Optuna journal, trials.jsonl")
            assert "ray.shared_paths" in line


def test_a_cluster_needs_results_on_declared_shared_storage(clean_env):
    cluster = {"address": "10.0.0.1:6379"}
    (line,) = errors_of(spec_data(ray=cluster))
    assert line.startswith("output_root: sweeps_out is relative to the driver's working "
                           "directory; the sweep joins the Ray cluster at '10.0.0.1:6379'")
    (line,) = errors_of(spec_data(ray=cluster, output_root="/data/sweeps"))
    assert line.startswith("output_root: /data/sweeps is not on declared shared storage "
                           "(declared: none)")
    # Declared in the spec, or by the cluster's environment.
    assert errors_of(spec_data(ray={**cluster, "shared_paths": ["/mnt/demp"]},
                               output_root="/mnt/demp/sweeps")) == []
    clean_env.setenv("DEMP_SHARED_PATHS", "/scratch:/mnt/demp")
    assert errors_of(spec_data(ray=cluster, output_root="/mnt/demp/sweeps")) == []
    # A mount is a whole path component, and `..` leaves it.
    for outside in ("/mnt/demp2/sweeps", "/mnt/demp/../sweeps"):
        (line,) = errors_of(spec_data(ray=cluster, output_root=outside))
        assert line.startswith(f"output_root: {outside} is not on declared shared storage "
                               f"(declared: /scratch, /mnt/demp)")


def test_a_ray_job_entrypoint_is_held_to_the_cluster_rules(clean_env):
    """`ray job submit -- demp sweep run spec.yaml`: the spec names no address, RAY_ADDRESS does."""
    assert errors_of(spec_data()) == []
    clean_env.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    (line,) = errors_of(spec_data())
    assert line.startswith("output_root: sweeps_out is relative")
    shared = spec_data(output_root="/mnt/demp/sweeps", ray={"shared_paths": ["/mnt/demp"]})
    assert validate_spec(shared).ray.is_local is False      # so the CLI starts Ray in cluster mode


def test_a_cluster_needs_a_server_database_or_the_shared_journal(clean_env):
    shared = {"ray": {"address": "auto", "shared_paths": ["/mnt/demp"]},
              "output_root": "/mnt/demp/sweeps"}
    assert errors_of(spec_data(**shared)) == []                              # the journal
    assert errors_of(spec_data(**shared, storage="postgresql://demp@db/demp")) == []
    assert errors_of(spec_data(**shared, storage="postgresql+psycopg://demp@db/demp")) == []
    assert errors_of(spec_data(**shared, storage="mysql://demp@db/demp")) == []
    (line,) = errors_of(spec_data(**shared, storage="sqlite:////mnt/demp/optuna.db"))
    assert line.startswith("storage: sqlite is a file database for one machine (and unsafe on "
                           "network file systems); the sweep joins the Ray cluster at 'auto'")


def test_every_cluster_problem_is_reported_at_once_one_line_each(clean_env):
    clean_env.setenv("DEMP_SHARED_PATHS", "relative/dir")
    lines = errors_of(spec_data(ray={"address": "auto", "shared_paths": ["mnt"]},
                                storage="sqlite:///optuna.db"))
    assert [ln.split(":", 1)[0] for ln in lines] == [
        "ray.shared_paths.0", "DEMP_SHARED_PATHS", "output_root", "storage"]


def test_demp_sweep_validate_prints_the_rule_and_exits_2(clean_env, tmp_path, capsys):
    from demp.cli import main

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_data(ray={"address": "10.0.0.1:6379"})))
    assert main(["sweep", "validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: config: output_root: sweeps_out is relative to the driver's working directory" in err
    assert main(["sweep", "validate", str(path), "--set", "output_root=/mnt/demp/sweeps",
                 "--set", "ray.shared_paths=[/mnt/demp]"]) == 0


def test_the_sweep_directory_records_the_clusters_shared_mount(clean_env):
    """spec.yaml keeps the declaration, so the sweep reads back where DEMP_SHARED_PATHS is not
    set (a laptop after `ray rsync-down`, a pod without the variable)."""
    clean_env.setenv("DEMP_SHARED_PATHS", "/scratch:/mnt/demp")
    spec = validate_spec(spec_data(ray={"address": "auto", "shared_paths": ["/efs"]},
                                   output_root="/mnt/demp/sweeps"))
    dumped = yaml.safe_load(dump_spec(spec))
    assert dumped["ray"]["shared_paths"] == ["/efs", "/mnt/demp"]
    clean_env.delenv("DEMP_SHARED_PATHS")
    assert errors_of(dumped) == []
    # Nothing to add when the spec declares the mount itself, or runs locally.
    for data in (spec_data(ray={"address": "auto", "shared_paths": ["/mnt/demp"]},
                           output_root="/mnt/demp/sweeps"), spec_data()):
        spec = validate_spec(data)
        assert yaml.safe_load(dump_spec(spec)) == spec.model_dump(mode="json")


def test_check_cluster_reads_the_environment_it_is_given(clean_env):
    spec = validate_spec(spec_data(output_root="/mnt/demp/sweeps"))
    assert check_cluster(spec, {}) == []
    assert check_cluster(spec, {"RAY_ADDRESS": "10.0.0.1:6379",
                                "DEMP_SHARED_PATHS": "/mnt/demp"}) == []
    (line,) = check_cluster(spec, {"RAY_ADDRESS": "10.0.0.1:6379"})
    assert line.startswith("output_root: /mnt/demp/sweeps is not on declared shared storage")


# ------------------------------------------------------------------------------ ray up configs


def launcher(name: str) -> dict:
    return yaml.safe_load(LAUNCHER[name].read_text())


def ray_schema() -> dict:
    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.mark.parametrize("name", sorted(LAUNCHER))
def test_launcher_config_passes_rays_schema_and_ray_up_validation(name):
    config = launcher(name)
    validator = jsonschema.Draft7Validator(ray_schema())
    problems = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(config)]
    assert problems == []
    # What `ray up` does before it talks to the cloud: fill defaults, then validate.
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert prepared["available_node_types"][prepared["head_node_type"]]["max_workers"] == 0


def test_rays_schema_catches_a_misspelt_field():
    """The schema is strict (additionalProperties: false): a typo is an error, not ignored."""
    config = launcher("aws")
    config["available_node_types"]["gpu-1x"]["min_worker"] = 1
    config["idle_timeout_minute"] = 5
    messages = sorted(e.message for e in
                      jsonschema.Draft7Validator(ray_schema()).iter_errors(config))
    assert messages == [
        "Additional properties are not allowed ('idle_timeout_minute' was unexpected)",
        "Additional properties are not allowed ('min_worker' was unexpected)"]


@pytest.mark.parametrize("name", sorted(LAUNCHER))
def test_launcher_config_has_a_cpu_head_and_autoscaling_1_and_8_gpu_workers(name):
    config = launcher(name)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}                 # the driver's node takes no trial
    workers = {n: t for n, t in types.items() if n != config["head_node_type"]}
    assert sorted(t["resources"]["GPU"] for t in workers.values()) == [1, 8]
    for t in workers.values():
        assert t["min_workers"] == 0 < t["max_workers"]    # scale from zero, on demand
        assert t["resources"]["CPU"] >= 4 * t["resources"]["GPU"]   # resources.cpu: 4 per trial
    assert config["max_workers"] >= sum(t["max_workers"] for t in workers.values())
    assert config["idle_timeout_minutes"] > 0 and config["upscaling_speed"] > 0


@pytest.mark.parametrize("name", sorted(LAUNCHER))
def test_launcher_config_runs_the_project_image_with_the_shared_mount(name):
    config = launcher(name)
    docker = config["docker"]
    assert gpu_image_ok(docker["image"]), docker["image"]
    assert "head_image" not in docker and "worker_image" not in docker
    options = " ".join(docker["run_options"])
    assert f"--volume {SHARED}:{SHARED}" in options
    assert f"--env DEMP_SHARED_PATHS={SHARED}" in options
    assert any(f" {SHARED}" in c and "mount " in c for c in config["initialization_commands"])
    assert config["setup_commands"] == []                  # everything is in the image
    start = " ".join(config["head_start_ray_commands"])
    assert "--head" in start and "--dashboard-host=0.0.0.0" in start   # the job server


def documented_entrypoints(path: Path) -> list[str]:
    """The `ray job submit ... -- <entrypoint>` commands in a config's header comment."""
    comment = "\n".join(ln[1:] for ln in path.read_text().splitlines() if ln.startswith("#"))
    comment = re.sub(r"\\\n\s*", " ", comment)
    return [m.strip() for m in re.findall(r"ray job submit [^\n]*? -- ([^\n]+)", comment)]


@pytest.mark.parametrize("path", [*LAUNCHER.values(), KUBERAY / "raycluster.yaml"],
                         ids=lambda p: p.name)
def test_documented_sweep_command_passes_the_cluster_rules_there(path, clean_env):
    (command,) = documented_entrypoints(path)
    assert entrypoint_errors(command, {**CLUSTER_ENV, "DEMP_SHARED_PATHS": SHARED},
                             clean_env) == []
    # The same command where nothing declares the mount shared is refused before it runs.
    clean_env.delenv("DEMP_SHARED_PATHS")
    (line,) = entrypoint_errors(f"{command} --set ray.shared_paths=[]", CLUSTER_ENV, clean_env)
    assert line.startswith(f"output_root: {SHARED}/sweeps is not on declared shared storage")


# ------------------------------------------------------------------------------ KubeRay

DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def manifests(name: str) -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((KUBERAY / name).read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object per kind"
    return by_kind


def cluster_specs() -> list[tuple[str, dict, dict]]:
    """(file, RayCluster spec, PersistentVolumeClaim) of both manifests."""
    rc, rj = manifests("raycluster.yaml"), manifests("rayjob.yaml")
    return [("raycluster.yaml", rc["RayCluster"]["spec"], rc["PersistentVolumeClaim"]),
            ("rayjob.yaml", rj["RayJob"]["spec"]["rayClusterSpec"], rj["PersistentVolumeClaim"])]


def groups(spec: dict) -> list[tuple[str, dict]]:
    return [("head", spec["headGroupSpec"]), *((g["groupName"], g)
                                               for g in spec["workerGroupSpecs"])]


@pytest.mark.parametrize("file,spec,pvc", cluster_specs(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_kuberay_cluster_has_the_fields_the_crd_requires(file, spec, pvc):
    # RayClusterSpec: headGroupSpec {rayStartParams, template}; each worker group
    # {groupName, minReplicas, maxReplicas, rayStartParams, template}; maps of strings.
    assert spec["rayVersion"] == ray_pin()
    head = spec["headGroupSpec"]
    names = [g["groupName"] for g in spec["workerGroupSpecs"]]
    assert len(set(names)) == len(names) and all(DNS_1123.match(n) for n in names)
    for name, group in groups(spec):
        assert isinstance(group["rayStartParams"], dict)
        assert all(isinstance(v, str) for v in group["rayStartParams"].values()), name
        containers = group["template"]["spec"]["containers"]
        assert containers and all(c["name"] and c["image"] for c in containers), name
        for c in containers:
            assert all(isinstance(e.get("value", ""), str) for e in c.get("env", [])), name
    for g in spec["workerGroupSpecs"]:
        assert 0 <= g["minReplicas"] <= g.get("replicas", 0) <= g["maxReplicas"]
    assert head["rayStartParams"]["num-cpus"] == "0"          # no trials on the head
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    ports = {p["containerPort"] for p in head["template"]["spec"]["containers"][0]["ports"]}
    assert {6379, 8265} <= ports                              # GCS, dashboard + job server


@pytest.mark.parametrize("file,spec,pvc", cluster_specs(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_kuberay_cluster_uses_token_auth_gpu_groups_and_autoscaling(file, spec, pvc):
    assert spec["authOptions"] == {"mode": "token"}
    assert Version(spec["rayVersion"]) >= Version("2.52.0")   # Ray's token authentication
    assert spec["enableInTreeAutoscaling"] is True
    gpus = {}
    for name, group in groups(spec):
        (c,) = group["template"]["spec"]["containers"]
        limits, requests = c["resources"]["limits"], c["resources"]["requests"]
        assert limits.get("nvidia.com/gpu") == requests.get("nvidia.com/gpu"), name
        gpus[name] = int(limits.get("nvidia.com/gpu", 0))
        assert gpu_image_ok(c["image"]), c["image"]
        env = {e["name"]: e for e in c["env"]}
        # The W&B key comes from a Secret, never as a literal value in the manifest.
        assert "value" not in env["WANDB_API_KEY"]
        assert env["WANDB_API_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert gpus.pop("head") == 0
    assert sorted(gpus.values()) == [1, 8]
    assert all(g["minReplicas"] < g["maxReplicas"] for g in spec["workerGroupSpecs"])


@pytest.mark.parametrize("file,spec,pvc", cluster_specs(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_kuberay_pods_share_one_readwritemany_volume_declared_to_demp(file, spec, pvc):
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    claim = pvc["metadata"]["name"]
    for name, group in groups(spec):
        pod = group["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (c,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        env = {e["name"]: e.get("value") for e in c["env"]}
        shared = env["DEMP_SHARED_PATHS"]
        assert shared == SHARED, name
        assert volumes[mounts[shared]]["persistentVolumeClaim"]["claimName"] == claim, name
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"   # object store


def test_rayjob_runs_the_sweep_on_the_raycluster_definition(clean_env):
    job = manifests("rayjob.yaml")["RayJob"]
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert DNS_1123.match(job["metadata"]["name"]) and len(job["metadata"]["name"]) <= 47
    spec = job["spec"]
    assert spec["submissionMode"] in ("K8sJobMode", "HTTPMode", "SidecarMode")
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] >= 0
    assert spec["backoffLimit"] == 0         # a resubmitted `sweep run` would find its directory
    # One cluster definition: the RayJob's is raycluster.yaml's.
    assert spec["rayClusterSpec"] == manifests("raycluster.yaml")["RayCluster"]["spec"]
    # The entrypoint is `demp sweep run` on a shipped spec, and passes the cluster rules in the
    # head pod's environment (a Ray job's driver runs on the head).
    entrypoint = " ".join(spec["entrypoint"].split())
    assert entrypoint.startswith(f"demp sweep run {IMAGE_ROOT}/sweeps/")
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in head["env"] if "value" in e}
    assert entrypoint_errors(entrypoint, {**CLUSTER_ENV, **env}, clean_env) == []

"""Orchestration overhead (issue #17): demp against plain in-process Optuna and raw Ray Tune, on
the same N configs, alternating in one run.

Contenders (each round runs every one of them once, in a fresh subprocess, in an order that
alternates between rounds, so machine load falls on all alike):

- ``demp``: ``run_sweep`` on the spec (W&B disabled), local Ray started and stopped by it;
- ``demp_wandb``: the same with ``wandb: {mode: offline}``;
- ``optuna``: an Optuna study with the spec's sampler calling the trainer in this process,
  ``n_jobs`` = the spec's ``max_concurrent`` (the same concurrency);
- ``ray``: raw Ray Tune + ``OptunaSearch`` (the spec's sampler) behind a ``ConcurrencyLimiter``,
  ``reuse_actors=True``, Tune's defaults otherwise, one ``tune.report`` at the end of a trial;
- ``floor``: what any sweep on a fresh local Ray pays before and after its trials, measured
  alone: demp's own Ray start (``RaySession``, lean) and driver settings, then Tune running
  ``max_concurrent`` trials, one per slot, that only import what a demp trial imports (ray.tune,
  torch, the trainer) and report once, then Ray's shutdown. No training: its overhead per trial
  (wall × concurrency / N, N the other contenders' trial count) is the part of theirs that no
  change to demp's orchestration can remove on a fresh instance;
- ``before``: ``demp`` from another source tree (``--before DIR``, e.g. ``git archive`` of an
  older commit), for before/after figures measured side by side; ``before_wandb``: the same
  with ``wandb: {mode: offline}``.

All get the same configs: ``--from DIR`` takes the parameters of a finished sweep's
``trials.jsonl``, else the spec's sampler is asked N times (no results told, so TPE's start-up
draws: deterministic from the spec's seed). Every contender enqueues them, so the sampler only
replays. Compute is what the trainer spends between ``on_train_start`` and ``on_end`` (measured
inside every trial); wall is the contender's whole run after ray, ray.tune and optuna are
imported (Ray start-up and shutdown included where there is Ray). Each contender's driver imports
the rest of what it needs, demp's modules and torch where it trains or imports the trainer, inside
the clock, as a user's driver would. (Until the fifth pass of #17 this docstring said torch was
imported before the clock. It was not: demp's driver and in-process Optuna imported it inside the
clock, and raw Ray's driver, which only needs the sampler, never imports it. Since that pass
demp's driver does not import torch either.) Overhead per trial = (wall × concurrency − Σ
compute) / N: the trial-slot seconds not spent training.

    python bench/bench_orchestration.py [--spec sweeps/digits-quick.yaml] [--trials 24]
        [--rounds 2] [--contenders demp optuna ray demp_wandb floor] [--before DIR]
        [--set K=V ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported
HERE = Path(__file__).resolve()
COMPUTE_ENV = "DEMP_BENCH_COMPUTE_FILE"


# ------------------------------------------------------------------------------ inside trials


def _timer():  # noqa: ANN202 - a demp Callback, built where demp is importable
    from demp.train.callbacks import Callback

    class ComputeTimer(Callback):
        """Appends the seconds between on_train_start and on_end to the file COMPUTE_ENV names."""

        def on_train_start(self, trainer) -> None:  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_end(self, trainer, summary) -> None:  # noqa: ANN001
            with open(os.environ[COMPUTE_ENV], "a") as f:
                f.write(f"{time.perf_counter() - self.t0}\n")

    return ComputeTimer()


def timed_demp_trial(config: dict) -> None:
    from demp.sweep.trial import demp_trial

    demp_trial(config, callbacks=[_timer()])


def import_only_trial(config: dict) -> None:
    """The ``floor`` contender's trial: a demp trial's imports and one report, no training."""
    from ray import tune

    import demp.methods  # noqa: F401  (the trainer, as build_trainer needs it)
    import demp.sweep.trial  # noqa: F401  (ray.tune, torch)

    tune.report({"done": 1})


def raw_ray_trial(config: dict) -> None:
    from ray import tune

    from demp.methods import build_trainer
    from demp.spec.space import apply_params

    params = {k: v for k, v in config.items() if k not in ("base", "metrics")}  # OptunaSearch's
    cfg = apply_params(config["base"], params)
    summary = build_trainer(cfg, callbacks=[_timer()]).fit()
    tune.report({m: summary[m] for m in config["metrics"]})


# ------------------------------------------------------------------------------ one contender


def _spec(args: argparse.Namespace, root: Path, name: str, wandb: str) -> Any:
    from demp.spec import load_spec

    spec = load_spec(args.spec, [*args.set, f"name={name}", f"output_root={root}",
                                 f"trials={args.trials}", f"wandb.mode={wandb}"])
    return spec


def run_contender(args: argparse.Namespace) -> dict[str, Any]:
    import optuna

    configs = json.loads(Path(args.configs).read_text())
    root = Path(tempfile.mkdtemp(prefix="demp-orch-"))
    compute_file = root / "compute.txt"
    os.environ[COMPUTE_ENV] = str(compute_file)
    kind = args.worker
    spec = _spec(args, root, f"orch-{kind}",
                 "offline" if kind in ("demp_wandb", "before_wandb") else "disabled")
    if kind in ("demp", "demp_wandb", "before", "before_wandb", "ray", "floor"):
        import ray  # noqa: F401  (imported before the clock starts, as optuna is)
        from ray import tune  # noqa: F401
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    if kind == "optuna":
        _in_process(spec, configs)
    elif kind == "ray":
        _raw_ray(spec, configs, root)
    elif kind == "floor":
        _floor(spec, root)
    else:
        _demp(spec, configs)
    wall = time.perf_counter() - t0
    compute = ([float(x) for x in compute_file.read_text().split()]
               if compute_file.exists() else [])  # the floor trains nothing
    return {"wall": wall, "compute": compute, "concurrency": spec.max_concurrent,
            "trials": len(configs)}


def _in_process(spec: Any, configs: list[dict]) -> None:
    import optuna

    from demp.methods import build_trainer
    from demp.spec.space import apply_params
    from demp.sweep.search import make_sampler

    study = optuna.create_study(directions=spec.directions, sampler=make_sampler(spec))
    for c in configs:
        study.enqueue_trial(c)
    base, space, timer = spec.base.model_dump(mode="json"), spec.search_space(), _timer

    def objective(trial: optuna.Trial) -> list[float]:
        space(trial)
        summary = build_trainer(apply_params(base, trial.params), callbacks=[timer()]).fit()
        return [summary[m] for m in spec.metrics]

    study.optimize(objective, n_trials=len(configs), n_jobs=spec.max_concurrent)


def _demp(spec: Any, configs: list[dict]) -> None:
    import optuna

    from demp.sweep import run_sweep

    create = optuna.create_study

    def create_and_enqueue(*a: Any, **kw: Any) -> optuna.Study:
        study = create(*a, **kw)
        for c in configs:
            study.enqueue_trial(c)
        return study

    optuna.create_study = create_and_enqueue  # this subprocess only
    outcome = run_sweep(spec, trainable=timed_demp_trial)
    assert outcome.counts["complete"] + outcome.counts["failed"] == len(configs), outcome.counts


def _floor(spec: Any, root: Path) -> None:
    from ray import tune

    from demp.sweep.ray_setup import RaySession, driver_env

    driver_env(False)
    session = RaySession(spec, root / "driver.log")
    session.start()
    try:
        tune.Tuner(
            tune.with_resources(import_only_trial, {"cpu": spec.resources.cpu}),
            tune_config=tune.TuneConfig(num_samples=spec.max_concurrent,
                                        max_concurrent_trials=spec.max_concurrent,
                                        reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(root / "ray"), verbose=0)).fit()
    finally:
        session.stop()


def _raw_ray(spec: Any, configs: list[dict], root: Path) -> None:
    import ray
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from demp.sweep.search import make_sampler

    ray.init(num_cpus=spec.ray.num_cpus, include_dashboard=False, log_to_driver=False)
    modes = ["max" if d == "maximize" else "min" for d in spec.directions]
    search = OptunaSearch(spec.search_space(), metric=spec.metrics, mode=modes,
                          sampler=make_sampler(spec), points_to_evaluate=configs)
    tuner = tune.Tuner(
        tune.with_resources(raw_ray_trial, {"cpu": spec.resources.cpu}),
        param_space={"base": spec.base.model_dump(mode="json"), "metrics": spec.metrics},
        tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(search, spec.max_concurrent),
                                    num_samples=len(configs), reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(root / "ray"), verbose=0))
    tuner.fit()
    ray.shutdown()


# ------------------------------------------------------------------------------ the driver


def make_configs(args: argparse.Namespace) -> list[dict]:
    import optuna

    from demp.results import TrialLog
    from demp.sweep.search import make_sampler

    if args.from_dir:
        records = sorted(TrialLog(Path(args.from_dir) / "trials.jsonl").records(),
                         key=lambda r: r.number if r.number is not None else 1 << 30)
        return [r.params for r in records][: args.trials]
    spec = _spec(args, Path(tempfile.gettempdir()), "orch-configs", "disabled")
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler(spec))
    out = []
    for _ in range(args.trials):
        trial = study.ask()
        spec.search_space()(trial)
        out.append(dict(trial.params))
    return out


def spawn(kind: str, args: argparse.Namespace, configs: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop(COMPUTE_ENV, None)
    src = args.before if kind.startswith("before") else str(HERE.parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, str(HERE), "--worker", kind, "--configs", str(configs),
           "--spec", args.spec, "--trials", str(args.trials),
           *[x for kv in args.set for x in ("--set", kv)]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="sweeps/digits-quick.yaml")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--contenders", nargs="+", default=["demp", "optuna", "ray", "demp_wandb"],
                    choices=["demp", "optuna", "ray", "demp_wandb", "before", "before_wandb",
                             "floor"])
    ap.add_argument("--before", help="source tree of the demp to run as 'before'")
    ap.add_argument("--from", dest="from_dir", help="take the configs of this finished sweep")
    ap.add_argument("--set", action="append", default=[], help="spec override K=V")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--configs", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.spec = str(Path(args.spec).resolve())
    if args.worker:
        print(json.dumps(run_contender(args)))
        return
    if any(k.startswith("before") for k in args.contenders) and not args.before:
        ap.error("--contenders before / before_wandb need --before DIR")
    sys.path.insert(0, str(HERE.parent))
    from _common import machine, table

    configs = make_configs(args)
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in args.contenders}
    loads = [load()]
    with tempfile.TemporaryDirectory(prefix="demp-orch-") as tmp:
        path = Path(tmp, "configs.json")
        path.write_text(json.dumps(configs))
        for r in range(args.rounds):
            order = args.contenders if r % 2 == 0 else args.contenders[::-1]
            for kind in order:
                res = spawn(kind, args, path)
                results[kind].append(res)
                print(f"round {r + 1} {kind:<10} wall {res['wall']:7.2f} s  compute "
                      f"{sum(res['compute']):7.2f} s  load {load()}", file=sys.stderr)
            loads.append(load())
    rows = []
    ref = {k: statistics.median(x["wall"] for x in v) for k, v in results.items()}
    for kind, runs in results.items():
        wall = ref[kind]
        comp = statistics.median(sum(x["compute"]) for x in runs)
        conc = runs[0]["concurrency"]
        over = statistics.median((x["wall"] * conc - sum(x["compute"])) / x["trials"]
                                 for x in runs)
        rows.append([kind, f"{wall:.2f}", f"{comp:.2f}", f"{over:.3f}",
                     *[f"{wall / ref[o]:.2f}" if o in ref else "-" for o in ("optuna", "ray")]])
    print(f"machine: {machine()}; load average (1/5/15 min) before and after each round: "
          f"{' | '.join(loads)}")
    print(f"spec {args.spec} {' '.join(args.set)}: {args.trials} configs, {args.rounds} rounds "
          f"(medians), same configs for every contender")
    print(table(["contender", "wall s", "Σ compute s", "overhead s / trial", "÷ optuna", "÷ ray"],
                rows))
    print("per round (wall s): " + "; ".join(
        f"{k} " + " / ".join(f"{x['wall']:.1f}" for x in v) for k, v in results.items()))


if __name__ == "__main__":
    main()

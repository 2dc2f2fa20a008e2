"""What a sweep's Optuna storage costs per trial: the journal file against PostgreSQL.

Each trial does exactly the storage work the driver does for it, through the driver's own
searcher (``demp.sweep.search.DempOptunaSearch``, no training, no Ray): ``suggest`` (the plan
check over the study's trials, ask, one parameter, the Ray trial id attribute) and
``on_trial_complete`` (status attribute, tell), for a two-objective study with the random
sampler, whose own cost is negligible, so the storage dominates. Both storages get the same
number of trials in alternating blocks in one run (their studies grow alike), and the ratio
PostgreSQL / journal is taken per round.

The journal is ``optuna.journal`` in a temporary directory (appended under Optuna's file lock,
fsync per write). PostgreSQL is a throwaway local server (``tests/pgserver.py``: Debian's
binaries, Unix socket, scram-sha-256 with the password in PGPASSFILE) with its default
durability (fsync, synchronous commit), reached through psycopg 3 and SQLAlchemy as a sweep
reaches it.

    python bench/bench_storage.py [--rounds 8] [--block 25]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # pgserver: the tests' throwaway server
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported

import optuna  # noqa: E402
import pgserver  # noqa: E402
from _common import machine, table  # noqa: E402

from demp.spec import SweepPaths, open_storage, validate_spec  # noqa: E402
from demp.sweep.search import DempOptunaSearch  # noqa: E402

METRICS = ["val_acc", "param_sparsity"]


class Driver:
    """One storage's study and the searcher a sweep driver would put on it."""

    def __init__(self, url: str | None, directory: Path, name: str) -> None:
        self.spec = validate_spec({
            "name": name, "output_root": str(directory), "trials": 10**6, "storage": url,
            "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 3.0, "log": True}},
            "sampler": {"name": "random", "seed": 0}, "wandb": {"mode": "disabled"}})
        paths = SweepPaths.for_spec(directory, name)
        paths.root.mkdir(parents=True, exist_ok=True)
        storage = open_storage(url, paths)
        optuna.create_study(storage=storage, study_name=name, directions=["maximize"] * 2)
        self.searcher = DempOptunaSearch(
            self.spec.search_space(), METRICS, ["maximize", "maximize"],
            optuna.samplers.RandomSampler(seed=0), name, storage, planned=10**6)
        self.searcher.set_search_properties(None, None, {})
        self.count = 0

    def trials(self, n: int) -> float:
        """Seconds for ``n`` trials' worth of storage work."""
        t0 = time.perf_counter()
        for _ in range(n):
            trial_id = f"t{self.count:06d}"
            self.count += 1
            config = self.searcher.suggest(trial_id)
            peak = config["params"]["demp.regularizer.peak"]
            self.searcher.on_trial_complete(trial_id, {
                "complete": True, "failed": False, "val_acc": 0.9 - peak / 10,
                "param_sparsity": min(0.99, peak / 3), "training_iteration": 4})
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--block", type=int, default=25, help="trials per storage per round")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load_before = os.getloadavg()
    server = pgserver.start(durable=True)
    os.environ["PGPASSFILE"] = str(server.passfile)
    try:
        with tempfile.TemporaryDirectory(prefix="demp-bench-storage-") as tmp:
            journal = Driver(None, Path(tmp), "journal")
            postgres = Driver(server.url(), Path(tmp), "postgres")
            journal.trials(2)     # warm-up: imports, first connection, schema checks
            postgres.trials(2)
            rows, ratios, per = [], [], {"journal": [], "postgres": []}
            for r in range(args.rounds):
                order = [("journal", journal), ("postgres", postgres)]
                if r % 2:
                    order.reverse()  # neither storage always runs first in a round
                ms = {name: 1000 * d.trials(args.block) / args.block for name, d in order}
                for name in ms:
                    per[name].append(ms[name])
                ratios.append(ms["postgres"] / ms["journal"])
                rows.append([r + 1, journal.count, f"{ms['journal']:.2f}",
                             f"{ms['postgres']:.2f}", f"{ratios[-1]:.2f}"])
    finally:
        server.stop()
    print(f"machine: {machine()}, nproc {os.cpu_count()}, load average "
          f"{load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after")
    print(f"{args.rounds} rounds x {args.block} trials per storage, random sampler, "
          f"2 objectives; trials in each study at the end: {journal.count}")
    print(table(["round", "trials so far", "journal ms/trial", "PostgreSQL ms/trial",
                 "PostgreSQL / journal"], rows))
    print(f"median: journal {statistics.median(per['journal']):.2f} ms/trial, PostgreSQL "
          f"{statistics.median(per['postgres']):.2f} ms/trial, ratio "
          f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()

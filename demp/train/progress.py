"""Terminal output for `demp train`: a rich progress bar and the final summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from demp.train.callbacks import Callback


class ProgressBar(Callback):
    """Steps done, last loss, and the latest val accuracy / neural sparsity."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.task = None
        self.status = ""

    def on_train_start(self, trainer) -> None:
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
            console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=trainer.total_steps,
                                           completed=trainer.step, status="")

    def on_step(self, trainer, step: int, loss: float) -> None:
        if self.progress is not None and (step % 10 == 0 or step == trainer.total_steps):
            self.progress.update(self.task, completed=step, status=f"loss {loss:.3f} {self.status}")

    def on_eval(self, trainer, metrics: dict[str, Any]) -> None:
        self.status = (f"val {metrics['val_acc']:.3f} "
                       f"neural sparsity {metrics['neural_sparsity']:.2f}")

    def on_end(self, trainer, summary: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=trainer.step)
            self.progress.stop()


def summary_table(summary: dict[str, Any], output_dir: Path | None = None,
                  console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="DemP run summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("steps", f"{summary['step']}"),
        ("val accuracy", f"{summary['val_acc']:.4f}"),
        ("test accuracy", f"{summary['test_acc']:.4f}"),
        ("neural sparsity", f"{summary['neural_sparsity']:.4f}"),
        ("parameter sparsity", f"{summary['param_sparsity']:.4f}"),
        ("parameters", f"{summary['params']:,}"),
        ("inference FLOPs / sample", f"{summary['flops']:,}"),
        ("training FLOPs", f"{summary['train_flops']:.3e}"),
        ("train time (s)", f"{summary['train_time']:.1f}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    layers = Table(title="live units per layer")
    layers.add_column("group")
    layers.add_column("live", justify="right")
    layers.add_column("dead fraction", justify="right")
    for g, n in summary["live_units"].items():
        layers.add_row(g, str(n), f"{summary['dead_fraction'][g]:.2f}")
    console.print(layers)
    if output_dir is not None:
        console.print(f"metrics: {output_dir / 'metrics.jsonl'}   model: {output_dir / 'model'}")

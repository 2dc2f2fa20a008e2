"""Where the CLI writes: stdout for results, stderr for errors, warnings and progress.

Pipes and logs get wide tables instead of rich's 80-column default. Every user-facing error goes
through ``print_errors``: one ``error: ...`` line per problem, user text escaped so that a field
value like ``[red]`` prints as itself.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)


def print_errors(text: str, category: str | None = None) -> None:
    """``error: [<category>: ]<line>`` on stderr for each line of ``text``, never wrapped: one
    problem is one line, however long, in a log as on a terminal. The category (config, file,
    sweep directory, trial, port, storage, …: ``demp.errors``) tells what to fix."""
    head = f"{category}: " if category else ""
    for line in text.splitlines():
        err_console.print(f"[red]error:[/red] {escape(head + line)}", highlight=False,
                          markup=True, soft_wrap=True)


def warn(text: str, label: str = "warning") -> None:
    """``warning: <text>`` (or another yellow label) on stderr."""
    err_console.print(f"[yellow]{label}:[/yellow] {text}", highlight=False)


__all__ = ["console", "err_console", "print_errors", "warn"]

"""``demp dashboard publish | layout``: the team's W&B workspace and report (wandb-workspaces).

The definitions are ``demp.track.wandb_workspace`` (imported when a command runs, so the CLI
starts without W&B and torch); ``publish`` there is the only function that talks to W&B, and a
failure (network, auth, permission) is an exit code with the message, never the API key.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``dashboard publish --entity E --project P [--sweep NAME]``."""
    dash = subparsers.add_parser("dashboard", help="W&B workspace and report for DemP sweeps")
    sub = dash.add_subparsers(dest="dashboard_command", required=True, metavar="COMMAND")
    p = sub.add_parser("publish", help="create the workspace and report in a W&B project")
    p.add_argument("--entity", required=True, help="W&B entity (user or team)")
    p.add_argument("--project", required=True, help="W&B project the sweeps log to")
    p.add_argument("--sweep", help="only the runs of this sweep (its W&B group)")
    p.add_argument("--only", choices=["workspace", "report"],
                   help="publish just one of the two")
    p.set_defaults(func=cmd_publish)
    p = sub.add_parser("layout", help="print the dashboard layout (YAML) without publishing")
    p.set_defaults(func=cmd_layout)
    return dash


def cmd_publish(args: argparse.Namespace) -> int:
    from demp.track import wandb_workspace
    from demp.track.wandb import mask_secret

    try:
        urls = wandb_workspace.publish(args.entity, args.project, args.sweep,
                                       workspace=args.only in (None, "workspace"),
                                       report=args.only in (None, "report"))
    except ImportError as exc:
        print(f"error: {exc}; install wandb-workspaces", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - network / auth / permission: report, don't trace
        print(f"error: publishing to {args.entity}/{args.project} failed: "
              f"{type(exc).__name__}: {mask_secret(str(exc))}", file=sys.stderr)
        return 1
    for what, url in urls.items():
        print(f"{what}: {url}")
    return 0


def cmd_layout(args: argparse.Namespace) -> int:
    from demp.track import wandb_workspace

    sys.stdout.write(wandb_workspace.layout_yaml())
    return 0


__all__ = ["register"]

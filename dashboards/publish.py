"""Publish the DemP W&B workspace and report (same as ``demp dashboard ...``).

    python dashboards/publish.py publish --entity E --project P [--sweep NAME] [--only report]
    python dashboards/publish.py layout > dashboards/layout.yaml

The definitions live in ``demp/track/wandb_workspace.py``; this file is only an entry point.
"""

import sys

from demp.cli import main

if __name__ == "__main__":
    sys.exit(main(["dashboard", *sys.argv[1:]]))

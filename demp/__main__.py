"""``python -m demp ...`` is the ``demp`` command."""

import sys

from demp.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""The ``demp`` command line (``demp = demp.cli:main``; also ``python -m demp``).

- ``main``       the one entry point and its error handler
- ``train``      ``demp train``, ``demp schema``
- ``sweep``      ``demp sweep run | resume | replicate | status | frontier | export | report |
                 dashboard | validate``
- ``compare``    ``demp sweep compare``: frontiers, budgets, bootstrap intervals
- ``exits``      the exit statuses
- ``workspace``  ``demp dashboard publish | layout`` (the W&B workspace and report)
- ``tables``     the frontier, target and comparison tables
- ``display``    what a running sweep shows (line by line, or live on a terminal)
- ``console``    stdout / stderr, and how errors and warnings are printed
"""

from demp.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

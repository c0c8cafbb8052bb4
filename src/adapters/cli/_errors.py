"""Exit codes of the ``adapters`` command and the mapping from our errors to them (shared by the subcommands)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..errors import DataError, ModelLoadError

__all__ = ["OK", "FAILED", "USAGE", "BAD_INPUT", "LOAD_FAILED", "guarded"]

OK, FAILED, USAGE, BAD_INPUT, LOAD_FAILED = 0, 1, 2, 3, 4


def guarded(job: Callable[[], int]) -> int:
    """Run ``job``; report a known failure on stderr in one line and return its exit code instead of a traceback."""
    try:
        return job()
    except DataError as error:
        print(f"adapters: bad input data: {error}", file=sys.stderr)
        return BAD_INPUT
    except (ModelLoadError, FileNotFoundError) as error:
        print(f"adapters: cannot load: {error}", file=sys.stderr)
        return LOAD_FAILED

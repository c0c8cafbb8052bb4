"""``adapters serve``: one base model, many adapters, one HTTP server (the ``serve`` extra; docs/serving.md).

Requests for different adapters that arrive together run as one batch (:mod:`.batcher`) on one worker thread that
owns the model (:mod:`.engine`). The FastAPI application (:func:`create_app`) needs the extra
(``pip install "transformers-adapters[serve]"``); the engine and the batcher do not.
"""

from __future__ import annotations

from .batcher import Batcher, BatcherSettings
from .engine import Engine, run_rows

__all__ = ["Batcher", "BatcherSettings", "Engine", "run_rows", "create_app"]


def create_app(engine: Engine, settings: BatcherSettings | None = None):
    """The FastAPI application serving ``engine`` (see :func:`adapters.serve.app.create_app`)."""
    from .app import create_app as build

    return build(engine, settings)

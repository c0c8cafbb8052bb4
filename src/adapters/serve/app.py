"""The FastAPI application of ``adapters serve``: routes, error answers, start-up and shutdown.

=========================== ================================================================================
``POST /predict``           classification, multi-label, tagging (entity spans) or extractive QA
``POST /generate``          text from an adapter with a causal-LM head (greedy or sampling)
``GET /adapters``           the served adapters with their method, head type, task and labels
``POST /adapters``          load an adapter (with its head) at run time; 201, or an error and nothing changed
``DELETE /adapters/{name}`` unload an adapter
``GET /health``             200 while serving, 503 while shutting down
``GET /metrics``            Prometheus text format (see :mod:`adapters.serve.metrics`)
``GET /openapi.json``       the OpenAPI schema (``/docs`` shows it)
=========================== ================================================================================

Errors are JSON ``{"detail": ...}`` with the status of :data:`STATUS` (422 for a malformed body, from FastAPI).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..errors import AdapterExistsError, AdapterNotFoundError, ModelLoadError, ServeError
from ..version import __version__
from .batcher import Batcher, BatcherSettings, ClientDisconnected
from .engine import Engine
from .metrics import Metrics
from .schemas import (
    AdapterInfo,
    GenerateRequest,
    GenerateResponse,
    HealthResponse,
    LoadRequest,
    PredictRequest,
    PredictResponse,
    error_body,
)

__all__ = ["create_app", "STATUS"]

# error type -> HTTP status (ServeError subclasses carry their own)
STATUS: dict[type[Exception], int] = {
    AdapterNotFoundError: 404,
    AdapterExistsError: 409,
    ModelLoadError: 400,
}
_LOAD_TIMEOUT_S = 600.0  # loading may download from the Hub
_UNKNOWN = "(unknown)"  # the adapter label of requests for adapters that are not served (bounded label values)


def status_of(error: Exception) -> int:
    if isinstance(error, ServeError):
        return error.status
    return next((code for kind, code in STATUS.items() if isinstance(error, kind)), 500)


def _error_response(error: Exception) -> JSONResponse:
    status = status_of(error)
    message = str(error) if status != 500 else f"Internal error: {type(error).__name__}: {error}"
    headers = {"Retry-After": str(max(1, round(error.retry_after_s)))} if hasattr(error, "retry_after_s") else None
    return JSONResponse(error_body(message), status_code=status, headers=headers)


def _disconnect_watcher(request: Request) -> Callable[[], Awaitable[None]]:
    """Returns when the client has gone away (the body has been read, so ``receive`` only reports a disconnect)."""

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return watch


def create_app(engine: Engine, settings: BatcherSettings | None = None) -> FastAPI:
    """The application serving ``engine``'s adapters with a :class:`Batcher` of ``settings``.

    The batcher's worker starts with the application (its lifespan) and, at shutdown, finishes every queued and
    running request before the application stops.
    """
    settings = settings or BatcherSettings()
    metrics = Metrics()
    batcher = Batcher(engine.run_batch, settings, observer=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        metrics.adapters.set(len(engine.adapters))
        yield
        await asyncio.to_thread(batcher.close)

    app = FastAPI(title="adapters serve", version=__version__, lifespan=lifespan)
    app.state.engine, app.state.batcher, app.state.metrics = engine, batcher, metrics

    async def answer(request: Request, body: Any, endpoint: str, encode: Callable[[Any], Any]) -> Any:
        started = time.monotonic()
        label = body.adapter if body.adapter in engine.adapters else _UNKNOWN
        try:
            timeout = min(body.timeout_s or settings.timeout_s, settings.timeout_s)
            result = await batcher.submit(encode(body), body.adapter, timeout, _disconnect_watcher(request))
        except ClientDisconnected:
            metrics.answered(label, endpoint, 499, time.monotonic() - started)
            return Response(status_code=499)
        except Exception as error:
            metrics.answered(label, endpoint, status_of(error), time.monotonic() - started)
            return _error_response(error)
        metrics.answered(label, endpoint, 200, time.monotonic() - started)
        return result

    @app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True)
    async def predict(body: PredictRequest, request: Request):
        """Classify a text, tag its entities, or answer a question from a context, with the named adapter."""
        result = await answer(request, body, "predict", engine.encode_predict)
        if isinstance(result, Response):
            return result
        return {"adapter": body.adapter, **result}

    @app.post("/generate", response_model=GenerateResponse)
    async def generate(body: GenerateRequest, request: Request):
        """Continue a prompt with the named causal-LM adapter."""
        if body.max_new_tokens > engine.max_new_tokens:
            return JSONResponse(
                error_body(
                    f"max_new_tokens={body.max_new_tokens} is above this server's limit {engine.max_new_tokens}."
                ),
                status_code=422,
            )
        result = await answer(request, body, "generate", engine.encode_prompt)
        return result if isinstance(result, Response) else {"adapter": body.adapter, **result}

    @app.get("/adapters", response_model=list[AdapterInfo])
    async def list_adapters():
        """The served adapters, with their heads and labels."""
        return [asdict(info) for info in engine.adapters.values()]

    @app.post("/adapters", response_model=AdapterInfo, status_code=201)
    async def load_adapter(body: LoadRequest):
        """Load an adapter saved with its head; a failed load leaves the served adapters unchanged."""
        try:
            info = await batcher.run_exclusive(lambda: engine.load(body.name, body.source), timeout_s=_LOAD_TIMEOUT_S)
        except Exception as error:
            return _error_response(error)
        metrics.adapters.set(len(engine.adapters))
        return asdict(info)

    @app.delete("/adapters/{name}")
    async def unload_adapter(name: str):
        """Stop serving an adapter and free its weights (queued requests for it get a 404)."""
        try:
            await batcher.run_exclusive(lambda: engine.unload(name))
        except Exception as error:
            return _error_response(error)
        metrics.adapters.set(len(engine.adapters))
        return {"unloaded": name}

    @app.get("/health", response_model=HealthResponse)
    async def health():
        """200 with the number of adapters and queued requests; 503 while shutting down."""
        body = {
            "status": "closing" if batcher.closing else "ok",
            "adapters": len(engine.adapters),
            "queued": batcher.depth,
        }
        return JSONResponse(body, status_code=503 if batcher.closing else 200)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics():
        metrics.queue_depth.set(batcher.depth)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, error: ServeError):
        return _error_response(error)

    return app

"""``adapters serve``: an HTTP server for one base model and many adapters (docs/serving.md)."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from ._errors import LOAD_FAILED, OK, USAGE

__all__ = ["HELP", "add_arguments", "run"]

HELP = "serve adapters over HTTP: one base model, many adapters, requests for different adapters batched together"

EPILOG = """examples:
  adapters serve path/to/base-model --adapter sentiment=runs/rt/adapter --adapter ner=runs/ner/adapter
  adapters serve minilm --adapter rotten_tomatoes=out/rotten_tomatoes   # the offline MiniLM-L6 (make install)
  adapters serve bert-base-uncased --adapter topic=AdapterHub/bert-base-uncased-pf-ag_news --port 9000

needs the serve extra: pip install "transformers-adapters[serve]"."""

_NEEDED = ("fastapi", "uvicorn", "prometheus_client")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "model", help="base model: a folder, a Hub id, or minilm / smollm2 (the offline models make install installs)"
    )
    parser.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="NAME=PATH_OR_ID",
        help="an adapter saved with its head, served as NAME (repeat for more)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--max-batch-size", type=int, default=32, help="requests per batch at most (default: 32)")
    parser.add_argument(
        "--batch-window-ms", type=float, default=5.0, help="wait this long after a request for others (default: 5)"
    )
    parser.add_argument("--queue-size", type=int, default=256, help="waiting requests before 429 (default: 256)")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="answer within this or 504 (default: 30)")
    parser.add_argument("--max-length", type=int, default=None, help="input tokens at most (default: the model's)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="generation limit (default: 256)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def _parse_adapters(values: list[str]) -> dict[str, str] | str:
    adapters: dict[str, str] = {}
    for value in values:
        name, sep, source = value.partition("=")
        if not sep or not name or not source:
            return f"--adapter {value!r} is not NAME=PATH_OR_ID"
        if name in adapters:
            return f"--adapter {name!r} is given twice"
        adapters[name] = source
    return adapters


def _check_settings(args: argparse.Namespace) -> str | None:
    positive = {
        "--max-batch-size": args.max_batch_size,
        "--queue-size": args.queue_size,
        "--timeout-s": args.timeout_s,
        "--max-new-tokens": args.max_new_tokens,
    }
    if args.max_length is not None:
        positive["--max-length"] = args.max_length
    bad = [f"{flag} {value}" for flag, value in positive.items() if value <= 0]
    if args.batch_window_ms < 0:
        bad.append(f"--batch-window-ms {args.batch_window_ms}")
    return f"{', '.join(bad)}: must be positive (the window: zero or more)" if bad else None


def run(args: argparse.Namespace) -> int:
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f'adapters serve needs {", ".join(missing)}: pip install "transformers-adapters[serve]"', file=sys.stderr
        )
        return USAGE
    adapters = _parse_adapters(args.adapter)
    problem = adapters if isinstance(adapters, str) else _check_settings(args)
    if problem:
        print(f"adapters serve: {problem}", file=sys.stderr)
        return USAGE
    return _serve(args, adapters)


def _serve(args: argparse.Namespace, adapters: dict[str, str]) -> int:
    import uvicorn

    from ..errors import ModelLoadError
    from ..serve import BatcherSettings, Engine, create_app
    from ..training.job import resolve_model

    try:
        model = resolve_model(args.model)  # minilm / smollm2 -> the installed asset folders
        engine = Engine.from_pretrained(model, max_length=args.max_length, max_new_tokens=args.max_new_tokens)
        for name, source in adapters.items():
            engine.load(name, source)
    except (ModelLoadError, FileNotFoundError) as error:  # FileNotFoundError: an alias whose package is missing
        print(f"adapters serve: not started: {error}", file=sys.stderr)
        return LOAD_FAILED
    settings = BatcherSettings(
        max_batch_size=args.max_batch_size,
        window_s=args.batch_window_ms / 1000,
        queue_size=args.queue_size,
        timeout_s=args.timeout_s,
    )
    served = ", ".join(f"{n} ({i.task})" for n, i in engine.adapters.items()) or "none yet"
    print(f"adapters serve: {args.model} with {served} on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(
        create_app(engine, settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=args.timeout_s,
    )
    return OK

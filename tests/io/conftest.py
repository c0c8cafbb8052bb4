"""Fixtures for loading tests: a local HTTP server on 127.0.0.1 (no other network is used)."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class _Handler(BaseHTTPRequestHandler):
    """Serves files below ``server.root`` with an ETag (the content hash); records every request."""

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        server = self.server
        path = self.path.split("?", 1)[0]
        server.log.append((self.command, path))
        file = server.root / path.lstrip("/")
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        truncated = path in server.truncated
        self.send_response(200)
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest()[:16] + '"')
        self.send_header("Content-Length", str(len(data) + (1000 if truncated else 0)))
        self.end_headers()
        if body:
            self.wfile.write(data)
            if truncated:  # the connection drops before the promised length
                self.wfile.flush()
                self.close_connection = True

    def log_message(self, *args) -> None:
        pass


class LocalServer:
    def __init__(self, root: Path):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.root, self.httpd.log, self.httpd.truncated = root, [], set()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.root = root
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def log(self) -> list[tuple[str, str]]:
        return self.httpd.log

    @property
    def truncated(self) -> set[str]:
        return self.httpd.truncated

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.log if m == method and p == path)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)


@pytest.fixture
def http_server(tmp_path):
    """A server on 127.0.0.1 serving ``tmp_path / "www"``; stopped at the end of the test."""
    root = tmp_path / "www"
    root.mkdir()
    server = LocalServer(root)
    yield server
    server.stop()

"""A tiny threaded HTTP server base shared by the fakes."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import zlib
from typing import Any


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a delayed reply never holds up shutdown
    allow_reuse_address = True


class FakeServerBase:
    """Start with ``with Fake() as server:`` (or start()/stop()); ``server.port``."""

    def __init__(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                try:
                    if encoding == "gzip":
                        raw = gzip.decompress(raw)
                    elif encoding == "deflate":
                        raw = zlib.decompress(raw)
                except Exception:
                    pass
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                owner._handle(self, self.command, self.path, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self.lock = threading.Lock()

    def start(self) -> FakeServerBase:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _handle(self, handler: Any, method: str, path: str, body: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def send(
        handler: Any,
        status: int,
        payload: Any = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(payload, bytes):
            data = payload
        elif payload is None:
            data = b""
        else:
            data = json.dumps(payload).encode()
        handler.send_response(status)
        if data or status not in (204, 304):
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        if data:
            handler.wfile.write(data)

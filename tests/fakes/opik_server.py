"""A fake Opik backend on 127.0.0.1 recording what the SDK sends.

Point the SDK at it with ``OPIK_URL_OVERRIDE=http://127.0.0.1:PORT/api`` (no key needed).
Endpoints the SDK (2.2.x) calls, from its source (``opik/rest_api``):

* ``POST /api/v1/private/traces/batch`` and ``/spans/batch`` (gzip JSON) - created traces/spans
* ``PATCH /api/v1/private/traces/{id}`` and ``/spans/{id}`` - updates (end time, output)
* ``PUT /api/v1/private/traces/feedback-scores`` (and spans) - feedback scores
* ``POST /api/v1/private/prompts/versions/retrieve`` (404 when unknown), ``POST
  /api/v1/private/prompts/versions`` and ``POST /api/v1/private/prompts`` - prompts
* ``GET /api/is-alive/ping`` and other GETs - answered with ``{}``

``HangingServer`` accepts connections and never answers (Opik "down" the worst way).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any

from tests.fakes._http import FakeServerBase

__all__ = ["FakeOpik", "HangingServer", "closed_port"]


class FakeOpik(FakeServerBase):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.prompt_versions: dict[str, list[dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        """The value for OPIK_URL_OVERRIDE."""
        return f"http://127.0.0.1:{self.port}/api"

    def _handle(self, handler: Any, method: str, path: str, body: Any) -> None:
        with self.lock:
            self.requests.append({"method": method, "path": path, "body": body, "t": time.time()})
        route = path.split("?")[0]
        if route.endswith("/prompts/versions/retrieve") and method == "POST":
            name = (body or {}).get("name")
            with self.lock:
                versions = self.prompt_versions.get(name)
            if not versions:
                self.send(handler, 404, {"errors": ["Prompt not found"]})
            else:
                self.send(handler, 200, versions[-1])
            return
        if route.endswith("/prompts/versions") and method == "POST":
            self.send(handler, 200, self._new_version(body or {}))
            return
        if route.endswith("/v1/private/prompts") and method == "POST":
            version = dict(body or {})
            version["version"] = {"template": version.get("template"), "metadata": version.get("metadata")}
            self._new_version(version)
            self.send(handler, 201)
            return
        if method == "GET":
            if "/projects" in route:
                self.send(handler, 200, {"content": [], "page": 1, "size": 0, "total": 0})
            else:
                self.send(handler, 200, {})
            return
        self.send(handler, 204)

    def _new_version(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        version = body.get("version") or {}
        with self.lock:
            versions = self.prompt_versions.setdefault(name, [])
            detail = {
                "id": str(uuid.uuid4()),
                "prompt_id": str(uuid.uuid5(uuid.NAMESPACE_URL, str(name))),
                "commit": uuid.uuid4().hex[:8],
                "version_number": f"v{len(versions) + 1}",
                "template": version.get("template"),
                "metadata": version.get("metadata"),
                "type": version.get("type") or "mustache",
                "template_structure": body.get("template_structure") or "text",
                "created_at": "2026-01-01T00:00:00Z",
            }
            versions.append(detail)
        return detail

    # -- views of what arrived --------------------------------------------------------------------
    def _collect(self, kind: str) -> dict[str, dict[str, Any]]:
        """Traces or spans by id, batches merged with later PATCH updates."""
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
            requests = list(self.requests)
        for r in requests:
            route = r["path"].split("?")[0]
            body = r["body"] if isinstance(r["body"], dict) else {}
            if r["method"] == "POST" and route.endswith(f"/v1/private/{kind}/batch"):
                for item in body.get(kind, []):
                    out.setdefault(item["id"], {}).update({k: v for k, v in item.items() if v is not None})
            elif r["method"] == "POST" and route.endswith(f"/v1/private/{kind}"):
                if "id" in body:
                    out.setdefault(body["id"], {}).update({k: v for k, v in body.items() if v is not None})
            elif r["method"] == "PATCH" and f"/v1/private/{kind}/" in route:
                item_id = route.rsplit("/", 1)[-1]
                out.setdefault(item_id, {"id": item_id}).update({k: v for k, v in body.items() if v is not None})
        return out

    def traces(self) -> list[dict[str, Any]]:
        return list(self._collect("traces").values())

    def spans(self) -> list[dict[str, Any]]:
        return list(self._collect("spans").values())

    def feedback_scores(self) -> list[dict[str, Any]]:
        with self.lock:
            requests = list(self.requests)
        scores = []
        for r in requests:
            if r["method"] == "PUT" and r["path"].split("?")[0].endswith("/feedback-scores"):
                scores.extend((r["body"] or {}).get("scores", []))
        return scores

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)


class FailingOpik(FakeServerBase):
    """An Opik that answers every request with HTTP 500 (a server up but broken)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _handle(self, handler: Any, method: str, path: str, body: Any) -> None:
        self.send(handler, 500, {"errors": ["scripted failure"]})


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
                self._conns.append(conn)
            except OSError:
                continue

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(1)
        for c in self._conns:
            c.close()
        self._sock.close()


def closed_port() -> int:
    """A local port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

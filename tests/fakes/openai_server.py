"""A fake OpenAI API on 127.0.0.1 for offline tests.

Behaviour is scripted per model name::

    with FakeOpenAI() as api:
        api.script("gpt-4o-mini", Error(429))            # first call to the primary: 429
        api.script("gpt-4.1-mini", Reply("Count out loud."))
        config = load_config({"openai_api_key": "sk-test", "openai_base_url": api.base_url, ...})

Scripted behaviours are consumed in order; then the model's default (``api.default(model,
...)``), then the server default: a plain one-sentence reply, or for a json_schema request the
structured ``api.structured_reply`` (or a minimal object). ``Reply(tool_calls=[...])`` scripts
tool calls; ``stream=true`` requests get SSE chunks (with a usage chunk). ``/v1/audio/speech``
returns a small WAV (``api.speech_errors`` scripts failures). Every request is recorded in
``api.requests`` (path, model, body; no headers, so no key).
"""

from __future__ import annotations

import io
import json
import math
import struct
import time
import uuid
import wave
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes._http import FakeServerBase

__all__ = ["DEFAULT_TIP", "Error", "FakeOpenAI", "Reply", "wav_bytes"]

DEFAULT_TIP = "Lock your picking onto the click and count the beats out loud."


@dataclass
class Reply:
    content: str | None = None
    delay: float = 0.0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name": ..., "arguments": {...}}
    json: Any = None  # structured output (serialized into content)
    model: str | None = None  # the model name the server reports (default: as requested)


@dataclass
class Error:
    status: int = 500
    delay: float = 0.0
    message: str = "scripted error"


def wav_bytes(seconds: float = 0.1, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


def _default_structured(schema: dict[str, Any]) -> Any:
    """A minimal instance of a JSON schema (fallback when no structured reply is scripted)."""
    defs = schema.get("$defs", {})

    def build(s: dict[str, Any]) -> Any:
        if "$ref" in s:
            return build(defs[s["$ref"].split("/")[-1]])
        if "enum" in s:
            return s["enum"][0]
        if "anyOf" in s:
            return build(s["anyOf"][0])
        t = s.get("type")
        if t == "object":
            return {k: build(v) for k, v in s.get("properties", {}).items()}
        if t == "array":
            return [build(s.get("items", {})) for _ in range(2)]
        return {"string": "x", "integer": 1, "number": 1.0, "boolean": True, "null": None}.get(t, "x")

    return build(schema)


class FakeOpenAI(FakeServerBase):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self._scripts: dict[str, deque[Any]] = defaultdict(deque)
        self._defaults: dict[str, Any] = {}
        self.structured_reply: Any = None
        self.speech_errors: deque[Error] = deque()
        self.speech_default: Error | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ------------------------------------------------------------------------------
    def script(self, model: str, *behaviours: Reply | Error) -> None:
        with self.lock:
            self._scripts[model].extend(behaviours)

    def default(self, model: str, behaviour: Reply | Error) -> None:
        with self.lock:
            self._defaults[model] = behaviour

    def chat_requests(self, model: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r["path"].endswith("/chat/completions") and (model is None or r["model"] == model)
            ]

    def speech_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"].endswith("/audio/speech")]

    # -- serving --------------------------------------------------------------------------------
    def _handle(self, handler: Any, method: str, path: str, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        model = body.get("model")
        with self.lock:
            self.requests.append({"method": method, "path": path, "model": model, "body": body, "t": time.time()})
        if path.endswith("/chat/completions"):
            with self.lock:
                queue = self._scripts.get(model)
                behaviour = queue.popleft() if queue else self._defaults.get(model)
            self._chat(handler, body, behaviour)
        elif path.endswith("/audio/speech"):
            with self.lock:
                err = self.speech_errors.popleft() if self.speech_errors else self.speech_default
            if err is not None:
                time.sleep(err.delay)
                self._error(handler, err)
                return
            self.send(handler, 200, wav_bytes(), content_type="audio/wav")
        else:
            self.send(handler, 404, {"error": {"message": f"unknown path {path}", "type": "invalid_request_error"}})

    def _error(self, handler: Any, err: Error) -> None:
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(err.status, "server_error")
        self.send(handler, err.status, {"error": {"message": err.message, "type": kind, "code": kind}})

    def _chat(self, handler: Any, body: dict[str, Any], behaviour: Reply | Error | None) -> None:
        if isinstance(behaviour, Error):
            time.sleep(behaviour.delay)
            self._error(handler, behaviour)
            return
        reply = behaviour or Reply()
        time.sleep(reply.delay)
        model = reply.model or body.get("model") or "gpt-4o-mini"
        fmt = body.get("response_format") or {}
        content = reply.content
        if reply.json is not None:
            content = json.dumps(reply.json)
        elif content is None and not reply.tool_calls:
            if fmt.get("type") == "json_schema":
                structured = self.structured_reply
                if structured is None:
                    structured = _default_structured(fmt["json_schema"]["schema"])
                content = json.dumps(structured)
            elif fmt.get("type") == "json_object":
                content = json.dumps(self.structured_reply or {})
            else:
                content = DEFAULT_TIP
        tool_calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
            }
            for c in reply.tool_calls
        ]
        usage = {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54}
        cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        if body.get("stream"):
            self._stream(handler, cid, model, content, tool_calls, usage, body)
            return
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        self.send(
            handler,
            200,
            {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if tool_calls else "stop",
                    }
                ],
                "usage": usage,
            },
        )

    def _stream(self, handler: Any, cid: str, model: str, content: str | None, tool_calls: list, usage: dict, body):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

        def chunk(delta: dict[str, Any], finish: str | None = None, use: dict | None = None, choices: bool = True):
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
            }
            if use is not None:
                data["usage"] = use
            handler.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            handler.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if content:
            words = content.split(" ")
            for i, word in enumerate(words):
                chunk({"content": word + (" " if i < len(words) - 1 else "")})
        for i, call in enumerate(tool_calls):
            chunk({"tool_calls": [{"index": i, **call}]})
        chunk({}, finish="tool_calls" if tool_calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk({}, use=usage, choices=False)
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

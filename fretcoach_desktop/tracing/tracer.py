"""The tracer factory: a no-op when Opik is not configured, Opik otherwise.

``make_tracer(config)`` returns :class:`NullTracer` when neither ``OPIK_API_KEY`` nor
``OPIK_URL_OVERRIDE`` is configured: Opik is never imported (no import cost, no network, no
warnings), callbacks are ``None`` and ``track`` is a no-op. Otherwise :class:`OpikTracing`
imports Opik lazily on first use (``import opik`` costs ~2-3 s of CPU, so call :meth:`warm_up`
to do it in a background thread at start-up), with:

* a health check first: before importing Opik, one GET of the server's ``is-alive/ping``
  (what Opik's own SDK pings; stdlib only, at most :data:`PROBE_TIMEOUT_S`). When the server
  refuses, does not answer in time or answers anything but HTTP 200, or when the ``opik``
  package is not installed, tracing is off for the rest of the process, with one warning
  line (no traceback) and without the heavy import;

* Sentry error reporting and usage analytics off (``OPIK_SENTRY_ENABLE=false``,
  ``OPIK_ANALYTICS_ENABLE=false``): no reporting to third parties without consent;
* a bounded exit: Opik's own unbounded ``atexit`` flush is replaced by one that gives up
  after :data:`EXIT_FLUSH_BUDGET_S`, so a dead or hung Opik server never holds the process;
* the API key passed to the client object only, never into metadata, tags or logs.

Every method swallows its errors (logged at debug level): tracing never breaks a feature.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from fretcoach_desktop.tracing.conventions import TraceSpec, scrub

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config

__all__ = [
    "EXIT_FLUSH_BUDGET_S",
    "PROBE_TIMEOUT_S",
    "PROMPT_BUDGET_S",
    "NullTracer",
    "OpikTracing",
    "TraceHandle",
    "Tracer",
    "make_tracer",
]

log = logging.getLogger(__name__)

#: Longest time the process exit waits for pending traces to reach Opik.
EXIT_FLUSH_BUDGET_S = 0.7
#: Longest time a first traced call waits for its prompt to be registered (so the trace can
#: link it); past it the call goes on and the registration finishes in the background.
PROMPT_BUDGET_S = 0.3
#: Longest time the health check of the Opik server may take (DNS, connect, TLS, answer):
#: a local server answers in milliseconds, a hosted one in a few hundred.
PROBE_TIMEOUT_S = 0.8
#: Where the SDK sends traces when neither FretCoach nor Opik's own settings name a server.
OPIK_CLOUD_URL = "https://www.comet.com/opik/api"
#: What to install when the opik package is missing (the optional extra).
INSTALL_HINT = "pip install 'fretcoach-desktop[tracing]'"


class TraceHandle:
    """What a ``track`` context yields: the trace id (``None`` when tracing is off)."""

    __slots__ = ("trace_id", "output", "metadata")

    def __init__(self, trace_id: str | None = None) -> None:
        self.trace_id = trace_id
        self.output: dict[str, Any] | None = None
        self.metadata: dict[str, Any] = {}

    def set_output(self, output: dict[str, Any]) -> None:
        """Record the traced block's output (ignored when tracing is off)."""
        self.output = output

    def add_metadata(self, **values: Any) -> None:
        """Metadata decided inside the traced block (e.g. that it fell back), added to the
        trace's when it ends."""
        self.metadata.update(values)


class _Track:
    """Both a decorator and a context manager (yielding a :class:`TraceHandle`)."""

    def __init__(self, tracer: Tracer, spec: TraceSpec, input: dict[str, Any] | None = None) -> None:
        self._tracer = tracer
        self._spec = spec
        self._input = input
        self._cm: contextlib.AbstractContextManager[TraceHandle] | None = None

    def __enter__(self) -> TraceHandle:
        self._cm = self._tracer._trace_context(self._spec, self._input)
        return self._cm.__enter__()

    def __exit__(self, *exc: Any) -> bool | None:
        assert self._cm is not None
        return self._cm.__exit__(*exc)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._tracer._trace_context(self._spec, self._input) as handle:
                result = func(*args, **kwargs)
                if handle.output is None:
                    handle.set_output(
                        {"output": result if isinstance(result, str | int | float | bool) else repr(result)}
                    )
                return result

        return wrapper


class Tracer:
    """The tracing interface the coach uses. This base class is the no-op implementation."""

    enabled: bool = False
    project_name: str = "FretCoach"

    # -- LangChain -----------------------------------------------------------------------
    def langchain_callback(
        self,
        tags: Iterable[str] = (),
        metadata: dict[str, Any] | None = None,
        thread_id: str | None = None,
        graph: Any = None,
    ) -> Any | None:
        """An ``opik.integrations.langchain.OpikTracer`` for one call, or ``None`` when off."""
        return None

    def callback_for(self, spec: TraceSpec, graph: Any = None) -> Any | None:
        """:meth:`langchain_callback` from a :class:`TraceSpec`."""
        return self.langchain_callback(spec.tags, spec.metadata, spec.thread_id, graph=graph)

    def trace_ids(self, callback: Any) -> list[str]:
        """Ids of the traces a LangChain callback created (empty when off)."""
        return []

    # -- non-LangChain calls ------------------------------------------------------------------
    def track(
        self,
        name: str,
        tags: Iterable[str] = (),
        metadata: dict[str, Any] | None = None,
        thread_id: str | None = None,
        input: dict[str, Any] | None = None,
    ) -> _Track:
        """Decorator / context manager tracing one call as its own trace."""
        return _Track(self, TraceSpec(name, tuple(tags), dict(metadata or {}), thread_id), input)

    def track_spec(self, spec: TraceSpec, input: dict[str, Any] | None = None) -> _Track:
        return _Track(self, spec, input)

    @contextlib.contextmanager
    def _trace_context(self, spec: TraceSpec, input: dict[str, Any] | None) -> Iterator[TraceHandle]:
        yield TraceHandle()

    # -- feedback, prompts, lifecycle --------------------------------------------------------
    def feedback(self, trace_id: str | None, name: str, value: float, reason: str | None = None) -> None:
        """A feedback score (e.g. thumbs up 1.0 / down 0.0) on a trace. Never blocks."""

    def register_prompt(self, name: str, version: str, text: str) -> None:
        """Register a versioned prompt as an Opik prompt (in the background)."""

    def ensure_prompt(self, name: str, version: str, text: str, timeout: float = PROMPT_BUDGET_S) -> Any | None:
        """Register (or find already registered) a prompt version and wait for it, at most
        *timeout* seconds: the Opik prompt to link an experiment or trace to, or ``None``
        (tracing off, Opik unreachable, or not done in time; it then finishes in the
        background and later traces link it)."""
        return None

    def prompt_link(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        """The Opik prompt info to link from a trace, once registered; else ``None``
        (*version*: that version of the prompt; default: the last one registered)."""
        return None

    def warm_up(self, max_wait_s: float | None = None) -> None:
        """Import the tracing backend in a background thread (no-op when off). Traced calls
        made before it is ready wait for it, at most *max_wait_s* seconds when given (then
        they go untraced: Opik takes ~3 s to import, which a short command cannot afford)."""

    def flush(self, timeout: float = 1.0) -> bool:
        """Send pending traces, waiting at most *timeout* seconds. True when all were sent."""
        return True


class NullTracer(Tracer):
    """Tracing off: every method is a no-op and Opik is never imported."""


def make_tracer(config: Config) -> Tracer:
    """:class:`OpikTracing` when an Opik key or URL is configured, else :class:`NullTracer`."""
    if not config.tracing_enabled:
        return NullTracer()
    key = config.opik_api_key.get_secret_value() if config.opik_api_key is not None else None
    return OpikTracing(
        url=config.opik_url_override,
        api_key=key or None,
        workspace=config.opik_workspace,
        project_name=config.opik_project_name,
    )


class OpikTracing(Tracer):
    """Opik-backed tracer. Opik is imported on first use, never at construction, and only
    after its server answered a health check."""

    def __init__(
        self,
        *,
        url: str | None,
        api_key: str | None,
        workspace: str | None,
        project_name: str = "FretCoach",
    ) -> None:
        self._url = url
        self._api_key = api_key  # only ever handed to the Opik client
        self._workspace = workspace
        self.project_name = project_name or "FretCoach"
        self._lock = threading.Lock()
        self._client: Any = None
        self._failed = False
        self._prompts: dict[tuple[str, str], Any] = {}  # (name, version) -> Opik prompt
        self._prompt_threads: dict[tuple[str, str], threading.Thread] = {}
        self._latest: dict[str, str] = {}  # name -> the version registered last
        self._prompt_lock = threading.Lock()
        self._slow = False  # a registration or a flush ran out of time: Opik is slow or down
        self._warm: threading.Thread | None = None
        self._max_wait: float | None = None

    @property
    def enabled(self) -> bool:
        """True until Opik turned out to be missing, down or broken (then off for good)."""
        return not self._failed

    def __repr__(self) -> str:  # never show the key
        return f"OpikTracing(url={self._url!r}, project_name={self.project_name!r})"

    # -- set-up ------------------------------------------------------------------------------
    def _opik(self) -> Any:
        """The configured Opik client (imports and configures Opik once), or None on failure.

        While :meth:`warm_up` is still importing Opik, a caller waits at most the warm-up's
        ``max_wait_s`` and then goes untraced rather than hold up the player.
        """
        if self._client is not None or self._failed:
            return self._client
        warm, wait = self._warm, self._max_wait
        if warm is not None and wait is not None and warm.is_alive() and threading.current_thread() is not warm:
            warm.join(wait)
            if self._client is None and not self._failed:
                log.debug("Opik is still starting: this call goes untraced")
                return None
        return self._opik_now()

    def _opik_now(self) -> Any:
        if self._client is not None or self._failed:
            return self._client
        with self._lock:
            if self._client is not None or self._failed:
                return self._client
            problem = _unavailable(self._url, self._api_key, self._workspace)
            if problem is not None:  # Opik stays unimported: no ~3 s of CPU for nothing
                _warn_once(problem)
                self._failed = True
                return None
            try:
                self._client = self._build_client()
            except Exception as exc:  # a broken install must not break the coach
                _warn_once(f"Opik tracing is off: Opik failed to start ({type(exc).__name__}: {_first_line(exc)})")
                log.debug("Opik failed to start", exc_info=True)
                self._failed = True
        return self._client

    def _build_client(self) -> Any:
        # Consent: no error reports or usage analytics to third parties. Set before import.
        os.environ["OPIK_SENTRY_ENABLE"] = "false"
        os.environ["OPIK_ANALYTICS_ENABLE"] = "false"
        os.environ.setdefault("OPIK_DEFAULT_FLUSH_TIMEOUT", "1")
        os.environ.setdefault("OPIK_CONSOLE_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("OPIK_PROJECT_NAME", self.project_name)
        # Evaluation pulls in LiteLLM, which otherwise downloads a price table.
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        if self._url:
            os.environ.setdefault("OPIK_URL_OVERRIDE", self._url)

        import opik
        from opik.api_objects import connection_resources

        _install_bounded_exit(connection_resources)
        client = opik.Opik(
            project_name=self.project_name,
            workspace=self._workspace,
            host=self._url,
            api_key=self._api_key,
            _show_misconfiguration_message=False,
        )
        opik.set_global_client(client)
        return client

    def warm_up(self, max_wait_s: float | None = None) -> None:
        with self._prompt_lock:
            self._max_wait = max_wait_s
            if self._warm is None:
                self._warm = threading.Thread(target=self._opik_now, name="opik-warm-up", daemon=True)
                self._warm.start()

    # -- LangChain -----------------------------------------------------------------------------
    def langchain_callback(
        self,
        tags: Iterable[str] = (),
        metadata: dict[str, Any] | None = None,
        thread_id: str | None = None,
        graph: Any = None,
    ) -> Any | None:
        if self._opik() is None:
            return None
        try:
            from opik.integrations.langchain import OpikTracer

            return OpikTracer(
                tags=list(tags),
                metadata=scrub(dict(metadata or {})),
                thread_id=thread_id,
                graph=graph,
                project_name=self.project_name,
            )
        except Exception:
            log.debug("cannot create an OpikTracer", exc_info=True)
            return None

    def trace_ids(self, callback: Any) -> list[str]:
        try:
            return [t.id for t in callback.created_traces()]
        except Exception:
            return []

    # -- @track ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _trace_context(self, spec: TraceSpec, input: dict[str, Any] | None) -> Iterator[TraceHandle]:
        if self._opik() is None:
            yield TraceHandle()
            return
        try:
            import opik

            cm = opik.start_as_current_trace(
                spec.name,
                input=input,
                tags=list(spec.tags),
                metadata=scrub(dict(spec.metadata)),
                project_name=self.project_name,
                thread_id=spec.thread_id,
            )
            trace_data = cm.__enter__()
        except Exception:
            log.debug("cannot start an Opik trace", exc_info=True)
            yield TraceHandle()
            return
        handle = TraceHandle(trace_data.id)
        exc_info: tuple[Any, Any, Any] = (None, None, None)
        try:
            yield handle
        except BaseException as exc:
            exc_info = (type(exc), exc, exc.__traceback__)
            raise
        finally:
            try:
                if handle.output is not None:
                    trace_data.update(output=handle.output)
                if handle.metadata:
                    trace_data.update(metadata=scrub(dict(handle.metadata)))
                cm.__exit__(*exc_info)
            except Exception:
                log.debug("cannot end an Opik trace", exc_info=True)

    # -- feedback, prompts, flush ---------------------------------------------------------------
    def feedback(self, trace_id: str | None, name: str, value: float, reason: str | None = None) -> None:
        if not trace_id:
            return
        client = self._opik()
        if client is None:
            return
        try:  # queued: sent by Opik's background workers
            score: dict[str, Any] = {"id": trace_id, "name": name, "value": float(value)}
            if reason:
                score["reason"] = reason
            client.log_traces_feedback_scores([score], project_name=self.project_name)
        except Exception:
            log.debug("cannot send feedback to Opik", exc_info=True)

    def register_prompt(self, name: str, version: str, text: str) -> None:
        self._registration(name, version, text)

    def _registration(self, name: str, version: str, text: str) -> threading.Thread:
        """The thread registering (name, version), started on first request."""
        key = (name, version)
        with self._prompt_lock:  # not self._lock: that one is held while Opik imports
            self._latest[name] = version
            thread = self._prompt_threads.get(key)
            if thread is not None:
                return thread

            def work() -> None:
                client = self._opik()
                if client is None:
                    return
                try:  # finds the version when the same text is registered already
                    self._prompts[key] = client.create_prompt(
                        name=f"fretcoach-{name}",
                        prompt=text,
                        metadata={"fretcoach_prompt": name, "fretcoach_version": version},
                        change_description=f"{name} {version}",
                        project_name=self.project_name,
                    )
                except Exception:
                    log.debug("cannot register prompt %s %s with Opik", name, version, exc_info=True)

            # Synchronous HTTP inside Opik: keep it off the caller's thread.
            thread = threading.Thread(target=work, name=f"opik-prompt-{name}-{version}", daemon=True)
            self._prompt_threads[key] = thread
        thread.start()
        return thread

    def ensure_prompt(self, name: str, version: str, text: str, timeout: float = PROMPT_BUDGET_S) -> Any | None:
        thread = self._registration(name, version, text)
        if not self._slow:  # once Opik has been slow, later calls do not wait for it again
            thread.join(max(0.0, timeout))
            if thread.is_alive():
                self._slow = True
        return self._prompts.get((name, version))

    def wait_prompts(self, timeout: float = 5.0) -> None:
        """Wait for pending prompt registrations (tests and CLI tools)."""
        for thread in list(self._prompt_threads.values()):
            thread.join(timeout)

    def prompt_link(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        prompt = self._prompts.get((name, version or self._latest.get(name, "")))
        if prompt is None:
            return None
        try:
            return prompt.__internal_api__to_info_dict__()
        except Exception:
            return None

    def flush(self, timeout: float = 1.0) -> bool:
        client = self._client
        if client is None:
            return True
        result: list[bool] = []
        seconds = max(1, int(round(timeout)))
        worker = threading.Thread(
            target=lambda: result.append(bool(client.flush(timeout=seconds))), name="opik-flush", daemon=True
        )
        worker.start()
        worker.join(timeout)
        done = bool(result and result[0])
        if not done:  # unreachable or hung: the exit must not wait for it a second time
            self._slow = True
            _exit_budget[0] = 0.0
        return done


# --------------------------------------------------------------------------- health check
_warned: set[str] = set()
_probed: dict[str, str | None] = {}  # server URL -> None (healthy) or what went wrong
_probe_lock = threading.Lock()


def _warn_once(message: str) -> None:
    """One line on stderr (through logging, as the app's other warnings), once a process."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else "no details"


def opik_installed() -> bool:
    """Whether the opik package can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec("opik") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["opik"] = None
        return False


def opik_server_url(url: str | None) -> str:
    """The server the SDK would use: *url* (FretCoach's setting), else ``OPIK_URL_OVERRIDE``,
    else ``url_override`` from Opik's own config file (``OPIK_CONFIG_PATH`` or
    ``~/.opik.config``), else Opik's hosted service."""
    if url:
        return url
    if os.environ.get("OPIK_URL_OVERRIDE"):
        return os.environ["OPIK_URL_OVERRIDE"]
    try:
        import configparser
        from pathlib import Path

        path = Path(os.environ.get("OPIK_CONFIG_PATH", "").strip() or "~/.opik.config").expanduser()
        if path.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(path, encoding="utf-8")
            value = parser.get("opik", "url_override", fallback="").strip()
            if value:
                return value
    except Exception:  # an unreadable config file: the SDK will say so if it matters
        log.debug("cannot read Opik's config file", exc_info=True)
    return OPIK_CLOUD_URL


def _shown(url: str) -> str:
    """*url* without any user:password part (for messages)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "the configured URL"


def probe_opik(
    url: str, api_key: str | None = None, workspace: str | None = None, timeout: float = PROBE_TIMEOUT_S
) -> str | None:
    """GET ``{url}/is-alive/ping`` (the health check Opik's SDK uses) within *timeout* seconds
    in all (name lookup included): None when it answers HTTP 200, else what went wrong, in a
    few words. Standard library only: Opik is not imported."""
    ping = url.rstrip("/") + "/is-alive/ping"
    answer: list[str | None] = []

    def ask() -> None:
        import socket
        import urllib.error
        import urllib.request

        headers = {"Accept": "application/json", "User-Agent": "fretcoach-desktop"}
        if workspace:  # the headers the SDK's own ping carries
            headers["Comet-Workspace"] = workspace
        if api_key:
            headers["Authorization"] = api_key
        try:
            request = urllib.request.Request(ping, headers=headers, method="GET")
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https only)
                status = response.status
                body = response.read(4096)
            if status != 200:
                answer.append(f"it answered HTTP {status} to its health check")
            elif b'"healthy":false' in body.replace(b" ", b""):
                answer.append("it reports itself unhealthy")
            else:
                answer.append(None)
        except urllib.error.HTTPError as exc:
            answer.append(f"it answered HTTP {exc.code} to its health check")
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                answer.append(f"no answer within {timeout:g} s")
            elif isinstance(reason, ConnectionRefusedError):
                answer.append("connection refused")
            elif isinstance(reason, socket.gaierror):
                answer.append("its host name does not resolve")
            else:
                answer.append(_first_line(reason) if isinstance(reason, BaseException) else str(reason))
        except TimeoutError:
            answer.append(f"no answer within {timeout:g} s")
        except Exception as exc:  # a reset connection, a bad URL...
            answer.append(f"{type(exc).__name__}: {_first_line(exc)}")

    if not ping.startswith(("http://", "https://")):
        return "its URL is not http:// or https://"
    worker = threading.Thread(target=ask, name="opik-health-check", daemon=True)
    worker.start()
    worker.join(timeout)  # also bounds a name lookup, which the socket timeout does not
    if not answer:
        return f"no answer within {timeout:g} s"
    return answer[0]


def _unavailable(url: str | None, api_key: str | None, workspace: str | None) -> str | None:
    """Why tracing cannot work in this process (a one-line warning), or None when it can.
    The server's answer is remembered for the process."""
    if not opik_installed():
        return f"Opik tracing is configured but the opik package is not installed: tracing is off ({INSTALL_HINT})"
    server = opik_server_url(url)
    with _probe_lock:
        if server not in _probed:
            _probed[server] = probe_opik(server, api_key, workspace)
        problem = _probed[server]
    if problem is None:
        return None
    return f"Opik tracing is off for this run: the Opik server at {_shown(server)} is unreachable ({problem})"


# --------------------------------------------------------------------------- exit
_exit_installed = False
#: what the exit may still wait for Opik (a flush that already timed out leaves nothing)
_exit_budget = [EXIT_FLUSH_BUDGET_S]


def _install_bounded_exit(connection_resources: Any) -> None:
    """Replace Opik's atexit flush (unbounded against a hung server) with a bounded one."""
    global _exit_installed
    if _exit_installed:
        return
    _exit_installed = True
    manager = connection_resources.MANAGER
    atexit.unregister(manager.close_all)

    def bounded_close() -> None:
        worker = threading.Thread(target=manager.close_all, name="opik-exit-flush", daemon=True)
        worker.start()
        worker.join(_exit_budget[0])
        # Opik + LangChain + OpenAI are ~3,000 modules: the interpreter's final garbage
        # collections over them cost seconds on a busy machine. Nothing needs collecting
        # at exit (the OS reclaims the memory), so move everything out of the collector's way.
        gc.freeze()

    atexit.register(bounded_close)

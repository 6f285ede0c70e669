"""The base of every fake provider: a loopback HTTP server (``lookout.stack.httpd``) with failure modes, a request log
and a control API; subclasses give their routes, auth check and error body.

Failure modes (``set_mode``): ``ok``, ``401``, ``402``, ``429`` (with ``Retry-After``), ``500``, ``503``, ``slow``
(answers after ``delay`` seconds), ``malformed`` (200 with broken JSON), optionally for the next ``count``
requests only and only for some path prefixes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from email.message import Message
from typing import Any

from lookout.demo.providers.handler import Query, Reply, make_handler
from lookout.stack.httpd import LocalServer

MODES = ("ok", "401", "402", "429", "500", "503", "slow", "malformed")

# the providers' own wording of each failure
MESSAGES = {
    401: "Authentication Fails, your api key is invalid",
    402: "Insufficient Balance",
    429: "Rate limit reached for requests",
    500: "Server Error",
    503: "Server Overloaded",
}


class FakeProvider:
    """Base: a threaded HTTP server on 127.0.0.1 with failure modes, a request log and a control API."""

    provider = "fake"

    def __init__(self, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: LocalServer | None = None
        self._mode = "ok"
        self._mode_opts: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []  # method, path, query, status (None while answering); no headers

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        self._stopping.clear()
        handler = make_handler(self.provider, self._arrive, self.answer)
        self._server = LocalServer(handler, self._host, self._port, poll_interval=0.05,
                                   name=f"fake-{self.provider}").start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts short any "slow" reply in flight
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- failure modes ---------------------------------------------------------------------------------------
    def set_mode(
        self,
        mode: str = "ok",
        *,
        retry_after: float | None = 1,
        delay: float = 5.0,
        count: int | None = None,
        paths: Iterable[str] | None = None,
    ) -> None:
        """Answer every request (or the next ``count`` ones, or those under ``paths``) in ``mode``.

        ``retry_after``: seconds sent in ``Retry-After`` with 429/503 (None: no header).
        ``delay``: seconds before a ``slow`` reply.
        """
        mode = str(mode)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        with self._lock:
            self._mode = mode
            self._mode_opts = {
                "retry_after": retry_after,
                "delay": float(delay),
                "count": None if count is None else int(count),
                "paths": tuple(paths) if paths else None,
            }

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    def request_count(self, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"].startswith(path_prefix))

    def _take_mode(self, path: str) -> tuple[str, dict[str, Any]]:
        with self._lock:
            mode, opts = self._mode, dict(self._mode_opts)
            if mode == "ok":
                return mode, opts
            if opts.get("paths") and not any(path.startswith(p) for p in opts["paths"]):
                return "ok", opts
            if opts.get("count") is not None:
                self._mode_opts["count"] -= 1
                if self._mode_opts["count"] <= 0:
                    self._mode, self._mode_opts = "ok", {}
            return mode, opts

    # -- hooks for subclasses -------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        """``(method, path or prefix ending in '/', handler(query, body, tail))``."""
        return []

    def control(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"mode": lambda b: self.set_mode(**b)}

    def authorized(self, headers: Any) -> bool:
        return True

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "code": status}}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"provider": self.provider, "mode": self._mode, "requests": len(self.requests)}

    def bound_memory(self) -> None:
        """Forget the oldest requests past 2,000 (keeps 1,000): a demo runs for weeks."""
        with self._lock:
            if len(self.requests) > 2000:
                del self.requests[:-1000]

    # -- answering -------------------------------------------------------------------------------------------
    def _arrive(self, method: str, path: str, query: Query) -> dict[str, Any] | None:
        if path.startswith("/_control"):
            return None
        entry: dict[str, Any] = {"method": method, "path": path, "query": query, "status": None}
        with self._lock:  # logged on arrival, so a test sees a request still being answered slowly
            self.requests.append(entry)
        return entry

    def answer(self, method: str, path: str, query: Query, headers: Message, raw_body: bytes) -> Reply:
        """The reply to one request: health, control, the failure mode in force, auth, then the routes."""
        if path == "/health":
            return Reply(200, {"status": "ok"})
        if path.startswith("/_control/") and method in ("POST", "GET"):
            return self._control(path.removeprefix("/_control/"), raw_body)
        mode, opts = self._take_mode(path)
        if mode == "slow":
            self._stopping.wait(opts.get("delay", 5.0))
        elif mode in ("401", "402", "429", "500", "503"):
            code = int(mode)
            extra = {}
            if code in (429, 503) and opts.get("retry_after") is not None:
                extra["Retry-After"] = _fmt_seconds(opts["retry_after"])
            return Reply(code, self.error_body(code, MESSAGES[code]), extra)
        if not self.authorized(headers):
            return Reply(401, self.error_body(401, MESSAGES[401]))
        for m, route, fn in self.routes():
            if m != method:
                continue
            if route.endswith("/") and path.startswith(route) and len(path) > len(route):
                tail = path[len(route):]
            elif path == route:
                tail = ""
            else:
                continue
            try:
                body = json.loads(raw_body) if raw_body else {}
                result = fn(query, body, tail)
            except Reply as r:
                return r
            except (ValueError, TypeError) as exc:
                return Reply(422, self.error_body(422, f"invalid request: {exc}"))
            if mode == "malformed":
                return Reply(200, None, raw=json.dumps(result).encode()[: max(1, len(json.dumps(result)) // 2)])
            return Reply(200, result)
        return Reply(404, self.error_body(404, "Not Found"))

    def _control(self, name: str, raw_body: bytes) -> Reply:
        fn = self.control().get(name) if name != "state" else (lambda _b: self.state())
        if fn is None:
            return Reply(404, {"error": f"unknown control {name}", "known": sorted([*self.control(), "state"])})
        try:
            result = fn(json.loads(raw_body) if raw_body else {})
        except (ValueError, TypeError, KeyError) as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(200, result if result is not None else {"ok": True})


def _fmt_seconds(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)

"""The one small HTTP server of the project's stand-ins (the native stack's pager and Grafana, the demo's fake
providers, marketplace, MCP server and control API, the tests' and benchmarks' fakes).

Publishes ``LocalServer``: a ``ThreadingHTTPServer`` (default 127.0.0.1, a free port) served by a daemon
thread, with its URL and port, start and stop, usable as a context manager; and ``QuietHandler``: a request
handler that logs nothing (callers read their own records instead) and answers a body or JSON in one call.
Standard library only, so the demo's small processes stay small.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return

    def send_body(self, status: int, body: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(obj).encode(), headers=headers)


class LocalServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0,
                 poll_interval: float = 0.2, name: str | None = None):
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:  # name the address: "Address already in use" alone does not say which
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": poll_interval},
                                        name=name, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a serve_forever() that never started otherwise
            self.httpd.shutdown()
            self._thread.join(2)
        self.httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

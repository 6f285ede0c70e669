"""HTTP endpoint: ``/metrics`` (Prometheus text format from the runtime's snapshots) and
``/healthz`` (JSON: 200 while the process runs, with each collector's state).

Reads: the ``Runtime``'s snapshots only, never a source, so a scrape takes milliseconds.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from exporters.runtime import Runtime

log = logging.getLogger("exporters.server")


def make_registry(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(runtime)
    ProcessCollector(registry=registry)
    return registry


class _Handler(BaseHTTPRequestHandler):
    server_version = "lookout-exporter"
    registry: CollectorRegistry
    runtime: Runtime

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = generate_latest(self.registry)
            headers = {"Content-Type": CONTENT_TYPE_LATEST}
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
            self._send(200, body, headers)
        elif path == "/healthz":
            body = json.dumps({"status": "ok", "collectors": self.runtime.health()}).encode()
            self._send(200, body, {"Content-Type": "application/json"})
        elif path == "/":
            page = (
                b'<html><body><h1>lookout exporter</h1><a href="/metrics">metrics</a> '
                b'<a href="/healthz">healthz</a></body></html>'
            )
            self._send(200, page, {"Content-Type": "text/html"})
        else:
            self._send(404, b"not found\n", {"Content-Type": "text/plain"})

    def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class MetricsServer:
    def __init__(self, runtime: Runtime, host: str, port: int):
        handler = type("Handler", (_Handler,), {"registry": make_registry(runtime), "runtime": runtime})
        ThreadingHTTPServer.allow_reuse_address = True
        if ":" in host:
            import socket

            class V6Server(ThreadingHTTPServer):
                address_family = socket.AF_INET6

            self.httpd: ThreadingHTTPServer = V6Server((host, port), handler)
        else:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

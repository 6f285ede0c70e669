"""Stand-in for the voice platform's MCP tool server: its own process answering ``GET /health``.

Reads: nothing. Serves: ``/health`` (200 ``{"status": "ok", "tools": N}``) on ``--host``/``--port``
(default 5556, the seed's port). The fault ``stop-mcp`` stops this process.
Standard library only, so it stays a few MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOLS = ("check_availability", "book_appointment", "add_to_waitlist", "lookup_business_hours")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/health":
            status, body = 200, {"status": "ok", "tools": len(TOOLS)}
        else:
            status, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demo.voice.mcp")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5556)
    args = p.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

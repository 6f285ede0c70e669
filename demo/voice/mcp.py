"""Stand-in for the voice platform's MCP tool server: its own process answering ``GET /health``.

Reads: nothing. Serves: ``/health`` (200 ``{"status": "ok", "tools": N}``) on ``--host``/``--port``
(default 5556, the seed's port). The fault ``stop-mcp`` stops this process.
Standard library only, so it stays a few MB.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from lookout.stack.httpd import LocalServer, QuietHandler

TOOLS = ("check_availability", "book_appointment", "add_to_waitlist", "lookup_business_hours")


class Handler(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/health":
            self.send_json(200, {"status": "ok", "tools": len(TOOLS)})
        else:
            self.send_json(404, {"error": "not found"})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lookout.demo.voice.mcp")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5556)
    args = p.parse_args(argv)
    server = LocalServer(Handler, args.host, args.port, poll_interval=0.5)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    server.start()
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

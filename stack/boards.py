"""The stand-in Grafana of the native stack: answers the links notifications carry, as Grafana would.

Reads: the generated directory of the stack's site (``runbooks/index.html``, ``dashboards/json/*.json``).
Publishes ``Boards`` (an HTTP server on 127.0.0.1): ``GET /public/runbooks/<file>`` serves the runbook pages as
Grafana serves them from its ``public/`` directory (compose mounts them there), ``GET /d/<uid>[/<slug>]``
answers 200 with the board's title for a dashboard that exists and 404 otherwise, ``GET /api/health`` 200.
Debian has no Grafana: this lets the end-to-end tests open every link of every notification.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from lookout.stack.httpd import LocalServer, QuietHandler


class Boards(LocalServer):
    def __init__(self, generated: Path, host: str = "127.0.0.1", port: int = 0):
        self.generated = generated
        boards = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                parts = [p for p in path.split("/") if p]
                if path == "/api/health":
                    return self.send_body(200, b'{"database": "ok"}')
                if parts[:2] == ["public", "runbooks"] and len(parts) == 3 and not parts[2].startswith("."):
                    f = boards.generated / "runbooks" / parts[2]
                    if f.is_file():
                        return self.send_body(200, f.read_bytes(), "text/html; charset=utf-8")
                if len(parts) >= 2 and parts[0] == "d":
                    title = boards.title(parts[1])
                    if title is not None:
                        return self.send_body(200, f"<!DOCTYPE html><title>{title}</title>".encode(),
                                              "text/html; charset=utf-8")
                return self.send_body(404, b"not found\n", "text/plain")

        super().__init__(Handler, host, port)

    def title(self, uid: str) -> str | None:
        """The title of the generated dashboard ``uid``, None when there is none."""
        for f in (self.generated / "dashboards" / "json").glob("*.json"):
            d = json.loads(f.read_text())
            if d.get("uid") == uid:
                return str(d.get("title", uid))
        return None

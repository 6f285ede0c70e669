"""The HTTP side of a fake provider: parses a request, hands it to the fake, writes its ``Reply``.

Knows nothing of providers: ``make_handler`` takes the fake's ``arrive`` (logs a request as it arrives, so a
test sees one still being answered slowly) and ``answer`` (returns the ``Reply``). A route raises ``Reply`` to
answer early with another status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lookout.stack.httpd import QuietHandler

Query = dict[str, str]


class Reply(Exception):
    """A status, a JSON body and headers; ``raw`` replaces the encoded body (the malformed mode)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None):
        super().__init__(status)
        self.status, self.body, self.headers, self.raw = status, body, headers or {}, raw

    def data(self) -> bytes:
        return self.raw if self.raw is not None else json.dumps(self.body).encode()


def make_handler(name: str, arrive: Callable[[str, str, Query], dict[str, Any] | None],
                 answer: Callable[[str, str, Query, Message, bytes], Reply]) -> type[QuietHandler]:
    class Handler(QuietHandler):  # quiet: tests read the fake's request log instead
        protocol_version = "HTTP/1.1"
        server_version = f"fake-{name}/1.0"

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            entry = arrive(method, path, query)
            try:
                reply = answer(method, path, query, self.headers, raw_body)
                self.send_body(reply.status, reply.data(), headers=reply.headers)
                status = reply.status
            except (BrokenPipeError, ConnectionResetError):
                status = 0
            if entry is not None:
                entry["status"] = status

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler

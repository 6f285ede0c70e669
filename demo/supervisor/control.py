"""The supervisor's control API on loopback (``python -m lookout.demo fault|status`` talk to it).

``GET /status``: the supervisor's status; ``GET /faults``: every fault with its part, default, value and effect;
``POST /faults/<name>`` with ``{"state": "on"|"off", "value": X}``: switches a fault and answers once it is in
effect (500 when applying it failed, 503 when Redis is unreachable, 400 for a bad body, 404 for an unknown fault).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from lookout.demo.faults import FAULTS
from lookout.demo.resp import RespError
from lookout.stack.httpd import LocalServer, QuietHandler

SHARES = ("drop-end-webhooks", "api-errors")  # faults whose value is a share between 0 and 1


def parse_switch(name: str, body: bytes) -> tuple[bool, float | None]:
    """``{"state": "on"|"off", "value": X}`` -> (on, value); ValueError, KeyError or TypeError when bad."""
    req = json.loads(body or b"{}")
    state = req["state"]
    if state not in ("on", "off"):
        raise ValueError("state must be on or off")
    value = None if req.get("value") is None else float(req["value"])
    if value is not None and (value < 0 or not math.isfinite(value)):
        raise ValueError("value must be a finite number >= 0")
    if value is not None and name in SHARES and value > 1:
        raise ValueError("value is a share between 0 and 1")
    return state == "on", value


def control_server(host: str, port: int, status: Callable[[], dict],
                   set_fault: Callable[[str, bool, float | None], dict]) -> LocalServer:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, code: int, body: Any) -> None:
            self.send_body(code, json.dumps(body, indent=1, default=str).encode())

        def do_GET(self) -> None:
            if self.path == "/status":
                self._reply(200, status())
            elif self.path == "/faults":
                self._reply(200, {n: {"part": f.part, "default": f.default, "value": f.value_help,
                                      "effect": f.effect} for n, f in FAULTS.items()})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            name = self.path.removeprefix("/faults/")
            if not self.path.startswith("/faults/") or name not in FAULTS:
                self._reply(404, {"error": f"unknown fault {name!r}", "known": sorted(FAULTS)})
                return
            try:
                on, value = parse_switch(name, body)
            except (ValueError, KeyError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            try:
                result = set_fault(name, on, value)
                self._reply(500 if result["error"] else 200, result)
            except (OSError, RespError) as exc:
                self._reply(503, {"error": f"Redis unavailable: {exc}"})

    return LocalServer(Handler, host, port, poll_interval=0.5, name="control")

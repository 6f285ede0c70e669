"""The stand-in pager: an HTTP server that records every notification Alertmanager sends.

Reads: POST ``/<receiver>/<kind>[/...]`` from Alertmanager, where ``kind`` is the receiver type the
configuration used (``webhook``, ``telegram``, ``pagerduty``, ...), as ``lookout.stack.native_site`` points them.
Publishes: ``Recorder.notifications`` (receiver, kind, time, alert names and status found in the body)
and ``GET /notifications`` (the same as JSON). Answers each kind the way its real API does, so that
Alertmanager counts the notification as delivered (Telegram: ``getMe``/``sendMessage`` replies; PagerDuty:
202 ``{"status": "success"}``; webhook: 200).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

from lookout.stack.httpd import LocalServer, QuietHandler


@dataclass
class Notification:
    receiver: str
    kind: str
    received_at: float
    status: str  # firing | resolved | unknown
    alerts: dict[str, str] = field(default_factory=dict)  # alertname -> firing|resolved
    body: Any = None


_NAME_RE = re.compile(r"alertname\s*[=:]\s*\"?([A-Za-z][A-Za-z0-9_]*)")
_STATUS_RE = re.compile(r"\b(FIRING|RESOLVED)\b", re.I)


def parse(receiver: str, kind: str, raw: bytes, content_type: str, known_alerts: set[str]) -> Notification:
    text = raw.decode(errors="replace")
    body: Any = text
    if "json" in content_type or text.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            body = json.loads(text)
    elif "form" in content_type:
        body = {k: v[0] for k, v in parse_qs(text).items()}
    n = Notification(receiver, kind, time.time(), "unknown", body=body)
    if isinstance(body, dict) and isinstance(body.get("alerts"), list):  # Alertmanager webhook payload
        n.status = body.get("status", "unknown")
        for a in body["alerts"]:
            name = a.get("labels", {}).get("alertname")
            if name:
                n.alerts[name] = a.get("status", n.status)
        return n
    if isinstance(body, dict) and body.get("event_action"):  # PagerDuty Events API v2
        n.status = "resolved" if body["event_action"] == "resolve" else "firing"
    else:
        m = _STATUS_RE.search(text)
        if m:
            n.status = m.group(1).lower()
    names = set(_NAME_RE.findall(text))
    # templates may print only the alert name: match the known names as whole words
    names |= {a for a in known_alerts if re.search(rf"\b{re.escape(a)}\b", text)}
    n.alerts = {a: n.status for a in names}
    return n


class Recorder(LocalServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, known_alerts: set[str] | None = None):
        self.notifications: list[Notification] = []
        self.known_alerts = set(known_alerts or ())
        self._lock = threading.Lock()
        recorder = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
                receiver = parts[0] if parts else "?"
                kind = parts[1] if len(parts) > 1 else "?"
                if kind == "telegram" and parts[-1] == "getMe":
                    return self.send_json(200, {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "lookout",
                                                                   "username": "lookout_stack_bot"}})
                n = parse(receiver, kind, raw, self.headers.get("Content-Type", ""), recorder.known_alerts)
                with recorder._lock:
                    recorder.notifications.append(n)
                if kind == "telegram":
                    return self.send_json(200, {"ok": True, "result": {"message_id": len(recorder.notifications),
                                                                   "date": int(time.time()),
                                                                   "chat": {"id": 1, "type": "private"}, "text": ""}})
                if kind == "pagerduty":
                    return self.send_json(202, {"status": "success", "message": "Event processed", "dedup_key": "x"})
                return self.send_json(200, {"status": "ok"})

            def do_GET(self) -> None:
                if self.path.startswith("/notifications"):
                    return self.send_json(200, [asdict(n) for n in recorder.snapshot()])
                return self.send_json(200, {"status": "ok"})

        super().__init__(Handler, host, port)

    def snapshot(self) -> list[Notification]:
        with self._lock:
            return list(self.notifications)

    def received(self, alertname: str, status: str = "firing", since: float = 0.0) -> list[Notification]:
        """Notifications since ``since`` that carried ``alertname`` with ``status``."""
        return [n for n in self.snapshot() if n.received_at >= since and n.alerts.get(alertname) == status]

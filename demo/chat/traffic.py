"""User generator of the chat center: sellers' people using the API.

- ``user_rate`` requests per minute from random seeded users (``GET /api/chats``, ``GET /api/interactions``),
  each with ``X-User-Id`` so the API bumps ``seller_users.last_seen_at``;
- an answer sweep every ``60 / speed`` seconds over every seller: open interactions older than
  ``30 / speed`` seconds are answered through ``POST /api/interactions/{id}/answer``, well inside the
  shortest SLA rule, so the healthy demo breaches nothing. Fault ``sla-unanswered`` skips the sweep.
Errors (API down, injected 500s) are counted and retried on the next round.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time

import requests

from lookout.demo.db import Lazy
from lookout.demo.faults import FaultStore
from lookout.demo.settings import Settings

log = logging.getLogger("lookout.demo.chat.traffic")


class UserGenerator(threading.Thread):
    def __init__(self, settings: Settings, faults: FaultStore, stop: threading.Event):
        super().__init__(name="chat-traffic", daemon=True)
        self.s, self.faults, self.stop_event = settings, faults, stop
        self.db = Lazy(settings.chat_db, "demo-chat-traffic")
        self.http = requests.Session()
        self.users: list[tuple[int, int]] = []  # (seller id, user id) of sellers with marketplace accounts
        self.requests = self.errors = self.answered = 0

    def _load_users(self) -> None:
        self.users = [(r[0], r[1]) for r in self.db.get().execute(
            "SELECT u.seller_id, u.id FROM seller_users u WHERE EXISTS (SELECT 1 FROM seller_marketplace_accounts a "
            "WHERE a.seller_id = u.seller_id) ORDER BY u.id").fetchall()]

    def _call(self, method: str, path: str, user: tuple[int, int], **params: object) -> dict | None:
        self.requests += 1
        try:
            r = self.http.request(method, f"{self.s.chat_base}{path}", params={"seller_id": user[0], **params},
                                  headers={"X-User-Id": str(user[1])}, timeout=self.s.http_timeout + 5)
            if r.status_code == 200:
                return r.json()
        except (requests.RequestException, ValueError):
            pass
        self.errors += 1
        return None

    def browse(self) -> None:
        user = random.choice(self.users)
        self._call("GET", random.choice(("/api/chats", "/api/interactions")), user)

    def sweep(self) -> None:
        if self.faults.value("sla-unanswered") is not None:
            return
        answer_after = 30 / self.s.speed
        by_seller: dict[int, tuple[int, int]] = {}
        for user in self.users:
            by_seller.setdefault(user[0], user)
        for user in by_seller.values():
            body = self._call("GET", "/api/interactions", user, status="open")
            for it in (body or {}).get("interactions", []):
                if time.time() - it["created_at"] >= answer_after and \
                        self._call("POST", f"/api/interactions/{it['id']}/answer", user) is not None:
                    self.answered += 1

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            with contextlib.suppress(requests.RequestException):
                if self.http.get(f"{self.s.chat_base}/api/health", timeout=2).status_code == 200:
                    break
        owed, last, next_sweep, next_load = 0.0, time.monotonic(), 0.0, 0.0
        while not self.stop_event.wait(0.2):
            now = time.monotonic()
            owed += self.s.user_rate / 60 * (now - last)
            last = now
            try:
                if now >= next_load or not self.users:
                    next_load = now + 60
                    self._load_users()
                if not self.users:
                    continue
                while owed >= 1:
                    owed -= 1
                    self.browse()
                if now >= next_sweep:
                    next_sweep = now + max(0.5, 60 / self.s.speed)
                    self.sweep()
            except Exception as exc:  # the generator must outlive a database restart
                log.warning("user generator: %s", exc)
                self.db.reset()
                owed = min(owed, 1.0)

    def stats(self) -> dict:
        return {"requests": self.requests, "errors": self.errors, "answered": self.answered}

"""A fake Wildberries/Ozon seller API: buyers' chats, feedbacks and questions, polled by sync_all_sellers.

Serves (real HTTP, stdlib):
- ``GET /{wb|ozon}/api/v1/{chats|feedbacks|questions}?seller=ID&after=SEQ&limit=N`` with an
  ``Authorization`` header: ``{"items": [...], "next": SEQ}``, items newer than ``after`` in order.
  A chat item is one buyer message (``chat_id``, ``message_id``, ``text``, ``priority``, ``created_at``);
  feedback and question items carry ``id``, ``text``, ``created_at`` (and ``rating``);
- ``GET /health``; ``POST /_control/events`` ``{"seller", "marketplace", "kind", "count", "priority"}`` adds
  events now (kind ``new_chat``, ``message``, ``feedbacks`` or ``questions``).
Buyers write on their own: ``rate`` events per minute spread over the sellers that polled in the last
ten minutes (the marketplace learns its sellers from their calls, so no seeding is shared).
Faults (from the shared switches): ``marketplace-slow`` delays answers, ``marketplace-429`` answers 429
with ``Retry-After``, ``marketplace-5xx`` answers 503. Memory is bounded (last 500 items per feed).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lookout.stack.httpd import LocalServer, QuietHandler

MARKETPLACES = ("wb", "ozon")
KINDS = ("chats", "feedbacks", "questions")
# share of buyer events by kind: new chat, message in a known chat, feedback, question
WEIGHTS = (("new_chat", 0.35), ("message", 0.25), ("feedbacks", 0.25), ("questions", 0.15))
TEXTS = ("Where is my order?", "The size does not fit, can I return it?", "Is this available in blue?",
         "Great product, thanks!", "The parcel arrived damaged.", "When will it be back in stock?")


class Marketplace:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, rate: float = 3.0,
                 fault: Callable[[str], float | None] = lambda name: None):
        self.host, self._port, self.rate, self.fault = host, port, rate, fault
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.ids = itertools.count(1)
        self.feeds: dict[tuple[str, str, str], deque[dict]] = {}
        self.chats: dict[tuple[str, str], deque[str]] = {}
        self.sellers: dict[str, float] = {}  # seller -> last poll (monotonic)
        self.requests = 0
        self._server: LocalServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- buyers ----------------------------------------------------------------------------------
    def add_event(self, seller: str, marketplace: str, kind: str, priority: str | None = None) -> dict:
        """``kind``: new_chat | message | feedbacks | questions; ``priority`` of a chat (default: random)."""
        now = time.time()
        with self.lock:
            known = self.chats.setdefault((seller, marketplace), deque(maxlen=50))
            if kind == "message" and not known:
                kind = "new_chat"
            n = next(self.ids)
            if kind in ("new_chat", "message"):
                chat_id = f"{marketplace}-chat-{n}" if kind == "new_chat" else random.choice(known)
                if kind == "new_chat":
                    known.append(chat_id)
                item = {"chat_id": chat_id, "message_id": f"{marketplace}-msg-{n}", "text": random.choice(TEXTS),
                        "priority": priority or random.choice(("high", "normal", "normal", "low")), "created_at": now}
                feed = "chats"
            else:
                item = {"id": f"{marketplace}-{kind[:2]}-{n}", "text": random.choice(TEXTS), "created_at": now}
                if kind == "feedbacks":
                    item["rating"] = random.randint(1, 5)
                feed = kind
            item["seq"] = next(self.seq)
            self.feeds.setdefault((seller, marketplace, feed), deque(maxlen=500)).append(item)
            return item

    def _buyers(self) -> None:
        owed = 0.0
        last = time.monotonic()
        while not self._stop.wait(0.5):
            now = time.monotonic()
            owed += self.rate / 60 * (now - last)
            last = now
            with self.lock:
                sellers = [s for s, t in self.sellers.items() if now - t < 600]
            if not sellers:
                owed = min(owed, 1.0)
                continue
            while owed >= 1:
                owed -= 1
                kind = random.choices([k for k, _ in WEIGHTS], [w for _, w in WEIGHTS])[0]
                self.add_event(random.choice(sellers), random.choice(MARKETPLACES), kind)

    # -- API -------------------------------------------------------------------------------------
    def feed(self, seller: str, marketplace: str, kind: str, after: int, limit: int) -> dict:
        with self.lock:
            self.sellers[seller] = time.monotonic()
            items = [i for i in self.feeds.get((seller, marketplace, kind), ()) if i["seq"] > after][:limit]
        return {"items": items, "next": items[-1]["seq"] if items else after}

    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes) -> tuple[int, Any, dict]:
        if path == "/health":
            return 200, {"status": "ok"}, {}
        if method == "POST" and path == "/_control/events":
            req = json.loads(body or b"{}")
            items = [self.add_event(str(req["seller"]), req.get("marketplace", "wb"), req.get("kind", "new_chat"),
                                    req.get("priority")) for _ in range(int(req.get("count", 1)))]
            return 200, {"items": items}, {}
        parts = path.strip("/").split("/")
        if method != "GET" or len(parts) != 4 or parts[0] not in MARKETPLACES or parts[1:3] != ["api", "v1"] \
                or parts[3] not in KINDS:
            return 404, {"error": "not found"}, {}
        with self.lock:
            self.requests += 1
        delay = self.fault("marketplace-slow")
        if delay:
            self._stop.wait(delay)
        if self.fault("marketplace-429") is not None:
            return 429, {"error": "too many requests"}, {"Retry-After": "5"}
        if self.fault("marketplace-5xx") is not None:
            return 503, {"error": "service unavailable"}, {}
        if not headers.get("Authorization"):
            return 401, {"error": "missing token"}, {}
        try:
            seller, after, limit = query["seller"], int(query.get("after", 0)), min(int(query.get("limit", 100)), 500)
        except (KeyError, ValueError):
            return 400, {"error": "seller, after and limit are required integers"}, {}
        return 200, self.feed(seller, parts[0], parts[3], after, limit), {}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Marketplace:
        self._server = LocalServer(_handler(self), self.host, self._port, poll_interval=0.5,
                                   name="marketplace-http").start()
        self._threads = [threading.Thread(target=self._buyers, name="marketplace-buyers", daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop()
        for t in self._threads:
            t.join(2)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port


def _handler(mp: Marketplace) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms a call
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _do(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                status, payload, headers = mp.handle(method, url.path, query, self.headers, body)
            except (ValueError, KeyError, TypeError) as exc:
                status, payload, headers = 400, {"error": str(exc)}, {}
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_json(status, payload, headers)

        def do_GET(self) -> None:
            self._do("GET")

        def do_POST(self) -> None:
            self._do("POST")

    return Handler

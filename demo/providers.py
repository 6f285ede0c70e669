"""Fake DeepSeek and ElevenLabs APIs: real HTTP on loopback, following the providers' documented payloads.

Used by the tests (``tests/test_providers*.py``, the collectors' tests) and by the demo (``python -m demo up``).

``FakeDeepSeek`` serves
  - ``GET /user/balance``: ``{"is_available", "balance_infos": [{"currency", "total_balance", "granted_balance",
    "topped_up_balance"}]}`` with amounts as strings, one entry per currency;
  - ``POST /chat/completions`` (also under ``/v1``): a chat completion with a real ``usage`` object
    (``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``prompt_cache_hit_tokens``,
    ``prompt_cache_miss_tokens``, ``prompt_tokens_details.cached_tokens``); a repeated prompt prefix is a cache hit
    in 64-token units, as on the real API. Each call is charged to the balance; an empty balance answers 402;
  - ``GET /models``.
``FakeElevenLabs`` serves
  - ``GET /v1/user/subscription``: ``tier``, ``character_count``, ``character_limit``,
    ``next_character_count_reset_unix``, ``status``...;
  - ``GET /v1/convai/conversations``: newest first, ``cursor``/``page_size`` (max 100, default 30), ``agent_id``,
    ``call_start_after_unix``/``call_start_before_unix``; answers ``conversations``, ``has_more``, ``next_cursor``;
  - ``GET /v1/convai/conversations/{id}``.

Both check their auth header (DeepSeek ``Authorization: Bearer``, ElevenLabs ``xi-api-key``) when built with an
``api_key``, and switch failure modes with ``set_mode``: ``ok``, ``401``, ``402``, ``429`` (with ``Retry-After``),
``500``, ``503``, ``slow`` (answers after ``delay`` seconds), ``malformed`` (200 with broken JSON), optionally for
the next ``count`` requests only and only for some path prefixes. ``set_page_size_cap`` forces pagination.
Other processes drive a standalone server through ``/_control/*`` (JSON POSTs, see ``_CONTROL``), e.g.
``curl -d '{"mode": "402"}' http://127.0.0.1:PORT/_control/mode``.

Standalone: ``python -m demo.providers deepseek|elevenlabs --port N [--api-key KEY | --api-key-env VAR]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODES = ("ok", "401", "402", "429", "500", "503", "slow", "malformed")


class _Reply(Exception):
    """Raised by a route to answer with a status, a JSON body and headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class FakeProvider:
    """Base: a threaded HTTP server on 127.0.0.1 with failure modes, a request log and a control API."""

    provider = "fake"
    auth_header = "Authorization"

    def __init__(self, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._mode = "ok"
        self._mode_opts: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []  # method, path, query, status (None while answering); no headers

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-{self.provider}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts short any "slow" reply in flight
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- failure modes ---------------------------------------------------------------------------------------
    def set_mode(
        self,
        mode: str = "ok",
        *,
        retry_after: float | None = 1,
        delay: float = 5.0,
        count: int | None = None,
        paths: Iterable[str] | None = None,
    ) -> None:
        """Answer every request (or the next ``count`` ones, or those under ``paths``) in ``mode``.

        ``retry_after``: seconds sent in ``Retry-After`` with 429/503 (None: no header).
        ``delay``: seconds before a ``slow`` reply.
        """
        mode = str(mode)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        with self._lock:
            self._mode = mode
            self._mode_opts = {
                "retry_after": retry_after,
                "delay": float(delay),
                "count": None if count is None else int(count),
                "paths": tuple(paths) if paths else None,
            }

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    def request_count(self, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"].startswith(path_prefix))

    def _take_mode(self, path: str) -> tuple[str, dict[str, Any]]:
        with self._lock:
            mode, opts = self._mode, dict(self._mode_opts)
            if mode == "ok":
                return mode, opts
            if opts.get("paths") and not any(path.startswith(p) for p in opts["paths"]):
                return "ok", opts
            if opts.get("count") is not None:
                self._mode_opts["count"] -= 1
                if self._mode_opts["count"] <= 0:
                    self._mode, self._mode_opts = "ok", {}
            return mode, opts

    # -- hooks for subclasses -------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        """``(method, path or prefix ending in '/', handler(query, body, tail))``."""
        return []

    def control(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"mode": lambda b: self.set_mode(**b)}

    def authorized(self, headers: Any) -> bool:
        return True

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "code": status}}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"provider": self.provider, "mode": self._mode, "requests": len(self.requests)}


_MESSAGES = {
    401: "Authentication Fails, your api key is invalid",
    402: "Insufficient Balance",
    429: "Rate limit reached for requests",
    500: "Server Error",
    503: "Server Overloaded",
}


def _make_handler(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"fake-{fake.provider}/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read fake.requests instead
            return

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None):
            data = raw if raw is not None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            entry: dict[str, Any] = {"method": method, "path": path, "query": query, "status": None}
            if not path.startswith("/_control"):
                with fake._lock:  # logged on arrival, so a test sees a request still being answered slowly
                    fake.requests.append(entry)
            try:
                entry["status"] = self._dispatch(method, path, query, raw_body)
            except (BrokenPipeError, ConnectionResetError):
                entry["status"] = 0

        def _dispatch(self, method: str, path: str, query: dict[str, str], raw_body: bytes) -> int:
            if path == "/health":
                self._send(200, {"status": "ok"})
                return 200
            if path.startswith("/_control/") and method in ("POST", "GET"):
                return self._control(path.removeprefix("/_control/"), raw_body)
            mode, opts = fake._take_mode(path)
            if mode == "slow":
                fake._stopping.wait(opts.get("delay", 5.0))
            elif mode in ("401", "402", "429", "500", "503"):
                code = int(mode)
                headers = {}
                if code in (429, 503) and opts.get("retry_after") is not None:
                    headers["Retry-After"] = _fmt_seconds(opts["retry_after"])
                self._send(code, fake.error_body(code, _MESSAGES[code]), headers)
                return code
            if not fake.authorized(self.headers):
                self._send(401, fake.error_body(401, _MESSAGES[401]))
                return 401
            for m, route, fn in fake.routes():
                if m != method:
                    continue
                if route.endswith("/") and path.startswith(route) and len(path) > len(route):
                    tail = path[len(route):]
                elif path == route:
                    tail = ""
                else:
                    continue
                try:
                    body = json.loads(raw_body) if raw_body else {}
                    result = fn(query, body, tail)
                except _Reply as r:
                    self._send(r.status, r.body, r.headers)
                    return r.status
                except (ValueError, TypeError) as exc:
                    self._send(422, fake.error_body(422, f"invalid request: {exc}"))
                    return 422
                if mode == "malformed":
                    self._send(200, None, raw=json.dumps(result).encode()[: max(1, len(json.dumps(result)) // 2)])
                else:
                    self._send(200, result)
                return 200
            self._send(404, fake.error_body(404, "Not Found"))
            return 404

        def _control(self, name: str, raw_body: bytes) -> int:
            fn = fake.control().get(name) if name != "state" else (lambda _b: fake.state())
            if fn is None:
                self._send(404, {"error": f"unknown control {name}", "known": sorted([*fake.control(), "state"])})
                return 404
            try:
                result = fn(json.loads(raw_body) if raw_body else {})
            except (ValueError, TypeError, KeyError) as exc:
                self._send(400, {"error": str(exc)})
                return 400
            self._send(200, result if result is not None else {"ok": True})
            return 200

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


def _fmt_seconds(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


# ------------------------------------------------------------------------------------------------------------
# DeepSeek
# ------------------------------------------------------------------------------------------------------------

# What the fake charges per million tokens (USD), only to make the balance move; the exporter prices usage
# from its own table (exporters/data/prices.yaml).
_FAKE_USD_PER_M = {"hit": Decimal("0.028"), "miss": Decimal("0.28"), "out": Decimal("0.42")}
_CNY_PER_USD = Decimal("7.2")
_CENT = Decimal("0.01")


class FakeDeepSeek(FakeProvider):
    provider = "deepseek"

    def __init__(
        self,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        # current names, the legacy deepseek-v4-flash, and the names retired on 2026-07-24 (still accepted here
        # so old clients keep working; the price table counts their usage after that date as unpriced)
        models: Iterable[str] = ("deepseek-flash", "deepseek-v4-pro", "deepseek-v4-flash", "deepseek-chat",
                                 "deepseek-reasoner"),
    ):
        super().__init__(api_key, host, port)
        self.models = list(models)
        self.token_multiplier = 1.0  # scales every usage object (the demo's llm-spend-spike)
        self.charge_calls = True
        self._available_override: bool | None = None
        self._balances: dict[str, dict[str, Decimal]] = {}
        self._prefixes: set[str] = set()
        self.set_balance("USD", granted="10.00", topped_up="100.00")

    # -- balance ---------------------------------------------------------------------------------------------
    def set_balance(
        self, currency: str = "USD", total: Any = None, granted: Any = "0", topped_up: Any = None
    ) -> None:
        """Set one currency's entry; ``total`` defaults to granted + topped_up, topped_up to total - granted."""
        g = Decimal(str(granted))
        t = Decimal(str(topped_up)) if topped_up is not None else Decimal(str(total or "0")) - g
        tot = Decimal(str(total)) if total is not None else g + t
        with self._lock:
            self._balances[currency.upper()] = {"total": tot, "granted": g, "topped_up": t}

    def set_available(self, available: bool | None) -> None:
        """Force ``is_available`` (None: derived from the balance, true while any total is positive)."""
        with self._lock:
            self._available_override = available

    def balances(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {c: {k: _money(v) for k, v in b.items()} for c, b in self._balances.items()}

    def is_available(self) -> bool:
        with self._lock:
            if self._available_override is not None:
                return self._available_override
            return any(b["total"] > 0 for b in self._balances.values())

    def _charge(self, hit: int, miss: int, out: int) -> None:
        usd = (hit * _FAKE_USD_PER_M["hit"] + miss * _FAKE_USD_PER_M["miss"] + out * _FAKE_USD_PER_M["out"]) / 10**6
        with self._lock:
            if not self._balances:
                return
            currency = "USD" if "USD" in self._balances else next(iter(self._balances))
            amount = usd if currency == "USD" else usd * _CNY_PER_USD
            b = self._balances[currency]
            from_granted = min(amount, max(b["granted"], Decimal(0)))  # granted balance is spent first
            b["granted"] -= from_granted
            b["topped_up"] -= amount - from_granted
            b["total"] = b["granted"] + b["topped_up"]

    # -- routes ----------------------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", "/user/balance", self._get_balance),
            ("GET", "/models", self._get_models),
            ("GET", "/v1/models", self._get_models),
            ("POST", "/chat/completions", self._chat),
            ("POST", "/v1/chat/completions", self._chat),
        ]

    def authorized(self, headers: Any) -> bool:
        return self.api_key is None or headers.get("Authorization", "") == f"Bearer {self.api_key}"

    def error_body(self, status: int, message: str) -> Any:
        kinds = {401: "authentication_error", 402: "unknown_error", 429: "rate_limit_error"}
        return {"error": {"message": message, "type": kinds.get(status, "server_error"), "param": None,
                          "code": "invalid_request_error" if status < 500 else None}}

    def _get_balance(self, query: dict[str, str], body: Any, tail: str) -> Any:
        with self._lock:
            infos = [
                {"currency": c, "total_balance": _money(b["total"]), "granted_balance": _money(b["granted"]),
                 "topped_up_balance": _money(b["topped_up"])}
                for c, b in self._balances.items()
            ]
        return {"is_available": self.is_available(), "balance_infos": infos}

    def _get_models(self, query: dict[str, str], body: Any, tail: str) -> Any:
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "deepseek"} for m in self.models]}

    def _chat(self, query: dict[str, str], body: Any, tail: str) -> Any:
        model = body.get("model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Reply(400, self.error_body(400, "messages must be a non-empty list"))
        if model not in self.models:
            raise _Reply(400, self.error_body(400, "Model Not Exist"))
        if not self.is_available():
            raise _Reply(402, self.error_body(402, _MESSAGES[402]))
        texts = [str(m.get("content") or "") for m in messages if isinstance(m, dict)]
        prompt_tokens = sum(_tokens(t) + 4 for t in texts)
        # context caching: the longest previously seen prefix of whole messages, in 64-token units
        hit = 0
        with self._lock:
            for i in range(len(texts), 0, -1):
                if _prefix_key(model, texts[:i]) in self._prefixes:
                    hit = (sum(_tokens(t) + 4 for t in texts[:i]) // 64) * 64
                    break
            for i in range(1, len(texts) + 1):
                self._prefixes.add(_prefix_key(model, texts[:i]))
        reply = f"Demo reply ({model}) to: {texts[-1][:60]}"
        completion_tokens = _tokens(reply) + 1
        if isinstance(body.get("max_tokens"), int):
            completion_tokens = min(completion_tokens, max(1, body["max_tokens"]))
        k = max(0.0, float(self.token_multiplier))
        prompt_tokens, hit, completion_tokens = (round(x * k) for x in (prompt_tokens, hit, completion_tokens))
        miss = prompt_tokens - hit
        if self.charge_calls:
            self._charge(hit, miss, completion_tokens)
        return {
            "id": str(uuid.uuid4()),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": hit},
                "prompt_cache_hit_tokens": hit,
                "prompt_cache_miss_tokens": miss,
            },
            "system_fingerprint": "fp_fake",
        }

    # -- control API -----------------------------------------------------------------------------------------
    def control(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        def multiplier(b: dict[str, Any]) -> Any:
            self.token_multiplier = float(b["value"])

        return {
            **super().control(),
            "balance": lambda b: self.set_balance(**b),
            "available": lambda b: self.set_available(b.get("value")),
            "token_multiplier": multiplier,
        }

    def state(self) -> dict[str, Any]:
        return {**super().state(), "balances": self.balances(), "is_available": self.is_available(),
                "token_multiplier": self.token_multiplier}


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))  # roughly 4 characters a token


def _prefix_key(model: str, texts: list[str]) -> str:
    return hashlib.sha256(json.dumps([model, *texts]).encode()).hexdigest()


def _money(v: Decimal) -> str:
    return str(v.quantize(_CENT, rounding=ROUND_HALF_UP))


# ------------------------------------------------------------------------------------------------------------
# ElevenLabs
# ------------------------------------------------------------------------------------------------------------


class FakeElevenLabs(FakeProvider):
    provider = "elevenlabs"
    auth_header = "xi-api-key"

    def __init__(self, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0):
        super().__init__(api_key, host, port)
        self.page_size_cap: int | None = None  # forces small pages whatever page_size the client asks for
        self._conversations: dict[str, dict[str, Any]] = {}
        self._subscription: dict[str, Any] = {
            "tier": "creator",
            "character_count": 12_000,
            "character_limit": 100_000,
            "can_extend_character_limit": True,
            "allowed_to_extend_character_limit": True,
            "next_character_count_reset_unix": int(time.time()) + 14 * 86400,
            "voice_limit": 30,
            "max_voice_add_edits": 95,
            "voice_add_edit_counter": 0,
            "professional_voice_limit": 1,
            "can_extend_voice_limit": False,
            "can_use_instant_voice_cloning": True,
            "can_use_professional_voice_cloning": True,
            "currency": "usd",
            "status": "active",
            "billing_period": "monthly_period",
            "character_refresh_period": "monthly_period",
            "has_open_invoices": False,
            "next_invoice": None,
        }

    # -- subscription ----------------------------------------------------------------------------------------
    def set_subscription(self, **fields: Any) -> None:
        """Update subscription fields (``character_count``, ``character_limit``, ``status``, ``tier``...)."""
        with self._lock:
            self._subscription.update(fields)

    def add_characters(self, n: int) -> None:
        with self._lock:
            self._subscription["character_count"] += int(n)

    # -- conversations ---------------------------------------------------------------------------------------
    def add_conversation(
        self,
        conversation_id: str | None = None,
        agent_id: str = "agent_demo",
        start_time_unix_secs: int | None = None,
        call_duration_secs: int = 60,
        status: str = "done",
        agent_name: str = "Demo agent",
        message_count: int = 6,
        call_successful: str = "success",
    ) -> str:
        """Register a conversation; ``status`` is initiated | in-progress | processing | done | failed."""
        cid = conversation_id or "conv_" + uuid.uuid4().hex[:26]
        start = int(start_time_unix_secs if start_time_unix_secs is not None else time.time() - call_duration_secs)
        with self._lock:
            self._conversations[cid] = {
                "agent_id": agent_id,
                "agent_name": agent_name,
                "conversation_id": cid,
                "start_time_unix_secs": start,
                "call_duration_secs": int(call_duration_secs),
                "message_count": int(message_count),
                "status": status,
                "call_successful": call_successful,
            }
        return cid

    def update_conversation(self, conversation_id: str, **fields: Any) -> None:
        with self._lock:
            self._conversations[conversation_id].update(fields)

    def clear_conversations(self) -> None:
        with self._lock:
            self._conversations.clear()

    def conversations(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._conversations.values()]

    def set_page_size_cap(self, cap: int | None) -> None:
        self.page_size_cap = None if cap is None else max(1, int(cap))

    # -- routes ----------------------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", "/v1/user/subscription", self._get_subscription),
            ("GET", "/v1/convai/conversations", self._list_conversations),
            ("GET", "/v1/convai/conversations/", self._get_conversation),
        ]

    def authorized(self, headers: Any) -> bool:
        return self.api_key is None or headers.get("xi-api-key", "") == self.api_key

    def error_body(self, status: int, message: str) -> Any:
        kinds = {401: "invalid_api_key", 402: "payment_required", 429: "too_many_concurrent_requests",
                 503: "system_busy"}
        return {"detail": {"status": kinds.get(status, "internal_error"), "message": message}}

    def _get_subscription(self, query: dict[str, str], body: Any, tail: str) -> Any:
        with self._lock:
            return dict(self._subscription)

    def _list_conversations(self, query: dict[str, str], body: Any, tail: str) -> Any:
        page_size = int(query.get("page_size", 30))
        if not 1 <= page_size <= 100:
            raise _Reply(422, {"detail": [{"loc": ["query", "page_size"], "msg": "must be between 1 and 100",
                                           "type": "value_error"}]})
        if self.page_size_cap:
            page_size = min(page_size, self.page_size_cap)
        after = int(query["call_start_after_unix"]) if "call_start_after_unix" in query else None
        before = int(query["call_start_before_unix"]) if "call_start_before_unix" in query else None
        with self._lock:
            items = [dict(c) for c in self._conversations.values()]
        items = [
            c for c in items
            if (query.get("agent_id") is None or c["agent_id"] == query["agent_id"])
            and (after is None or c["start_time_unix_secs"] > after)
            and (before is None or c["start_time_unix_secs"] < before)
        ]
        items.sort(key=_sort_key)  # newest first, ties broken by id: a stable order for cursors
        if query.get("cursor"):
            last = _decode_cursor(query["cursor"])
            items = [c for c in items if _sort_key(c) > last]
        page, rest = items[:page_size], items[page_size:]
        return {
            "conversations": page,
            "has_more": bool(rest),
            "next_cursor": _encode_cursor(_sort_key(page[-1])) if rest else None,
        }

    def _get_conversation(self, query: dict[str, str], body: Any, tail: str) -> Any:
        with self._lock:
            c = self._conversations.get(tail)
            if c is None:
                raise _Reply(404, {"detail": {"status": "conversation_not_found", "message": "Not found"}})
            c = dict(c)
        return {
            "agent_id": c["agent_id"], "conversation_id": c["conversation_id"], "status": c["status"],
            "transcript": [],
            "metadata": {"start_time_unix_secs": c["start_time_unix_secs"],
                         "call_duration_secs": c["call_duration_secs"]},
        }

    # -- control API -----------------------------------------------------------------------------------------
    def control(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            **super().control(),
            "subscription": lambda b: self.set_subscription(**b),
            "characters": lambda b: self.add_characters(int(b["value"])),
            "conversation": lambda b: {"conversation_id": self.add_conversation(**b)},
            "update_conversation": lambda b: self.update_conversation(**b),
            "clear_conversations": lambda b: self.clear_conversations(),
            "page_size_cap": lambda b: self.set_page_size_cap(b.get("value")),
        }

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {**super().state(), "conversations": len(self._conversations),
                    "subscription": dict(self._subscription)}


def _sort_key(c: dict[str, Any]) -> tuple[int, str]:
    return (-int(c["start_time_unix_secs"]), str(c["conversation_id"]))


def _encode_cursor(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([key[0], key[1]]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        a, b = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return (int(a), str(b))
    except (ValueError, TypeError) as exc:
        raise _Reply(422, {"detail": {"status": "invalid_cursor", "message": "Invalid cursor"}}) from exc


PROVIDERS: dict[str, type[FakeProvider]] = {"deepseek": FakeDeepSeek, "elevenlabs": FakeElevenLabs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.providers", description=__doc__.split("\n\n")[0])
    parser.add_argument("provider", choices=sorted(PROVIDERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--api-key", help="require this key (prefer --api-key-env)")
    key.add_argument("--api-key-env", help="require the key held by this environment variable")
    parser.add_argument("--mode", default="ok", choices=MODES)
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else args.api_key
    fake = PROVIDERS[args.provider](api_key=api_key, host=args.host, port=args.port)
    fake.set_mode(args.mode)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    print(f"fake {args.provider} listening on http://{args.host}:{fake.port}", flush=True)
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

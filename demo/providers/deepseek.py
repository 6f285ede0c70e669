"""The fake DeepSeek API: ``GET /user/balance``, ``POST /chat/completions`` (also under ``/v1``) with a real
``usage`` object and context caching in 64-token units, ``GET /models``; each call is charged to the balance, an
empty balance answers 402. Control: ``balance``, ``available``, ``token_multiplier`` (see
``lookout.demo.providers``)."""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lookout.demo.providers.base import MESSAGES, FakeProvider
from lookout.demo.providers.handler import Reply

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

    def bound_memory(self) -> None:
        super().bound_memory()
        with self._lock:
            if len(self._prefixes) > 20000:  # the cache starts again empty, as after a real cache eviction
                self._prefixes.clear()

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
            raise Reply(400, self.error_body(400, "messages must be a non-empty list"))
        if model not in self.models:
            raise Reply(400, self.error_body(400, "Model Not Exist"))
        if not self.is_available():
            raise Reply(402, self.error_body(402, MESSAGES[402]))
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

"""The fake ElevenLabs API: ``GET /v1/user/subscription``, ``GET /v1/convai/conversations`` (newest first,
cursor pages of at most 100) and ``GET /v1/convai/conversations/{id}``, behind ``xi-api-key``. Control:
``subscription``, ``characters``, ``conversation``, ``update_conversation``, ``clear_conversations``,
``page_size_cap`` (see ``lookout.demo.providers``)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from lookout.demo.providers.base import FakeProvider
from lookout.demo.providers.handler import Reply


class FakeElevenLabs(FakeProvider):
    provider = "elevenlabs"

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

    def bound_memory(self) -> None:
        """Past 5,000 conversations, forget those that started more than a day ago."""
        super().bound_memory()
        with self._lock:
            if len(self._conversations) > 5000:
                cutoff = time.time() - 86400
                for cid in [k for k, v in self._conversations.items() if v["start_time_unix_secs"] < cutoff]:
                    del self._conversations[cid]

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
            raise Reply(422, {"detail": [{"loc": ["query", "page_size"], "msg": "must be between 1 and 100",
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
                raise Reply(404, {"detail": {"status": "conversation_not_found", "message": "Not found"}})
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
        raise Reply(422, {"detail": {"status": "invalid_cursor", "message": "Invalid cursor"}}) from exc

"""ElevenLabs quota and missed webhooks.

Reads: ``GET {base_url}/v1/user/subscription`` (``character_count``, ``character_limit``,
``next_character_count_reset_unix``, ``status``, ``tier``) and, when ``conversations`` is configured,
``GET {base_url}/v1/convai/conversations`` (newest first, ``call_start_after_unix``, ``cursor``/``page_size``
pagination, ``has_more``/``next_cursor``), both with the ``xi-api-key`` header; then the platform's database
(reference schema ``exporters/schemas/voice.sql``, query ``ended`` through the unique index on
``conversations.conversation_id``) for which of the provider's finished conversations it recorded as ended.
Publishes: ``elevenlabs_subscription_*``, ``lookout_elevenlabs_conversations_finished`` and
``lookout_elevenlabs_conversations_missing_end_event`` (finished at the provider, more than ``grace`` ago, within
``lookback``, but with no ``ended_at`` in the platform's database: the direct measure of missed
``conversation:end`` webhooks), plus the ``lookout_llm_provider_api_*`` health of the API.

An HTTP error answer is a successful refresh reporting the status without the values it would have given; a
connection failure, a timeout, an unparseable body or a database error fails the refresh.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from lookout.exporters.binding import Duration, Secret, setting
from lookout.exporters.collector import Collector, Snapshot, gauge, info
from lookout.exporters.collectors._http import PROVIDER_METRICS, ApiHealth, HttpClient, HttpSettings
from lookout.exporters.collectors._pg import PgSettings, PgSource
from lookout.exporters.collectors._sql import check_one_statement

ENDED_QUERY = """
SELECT conversation_id
FROM conversations
WHERE conversation_id = ANY(%(ids)s) AND ended_at IS NOT NULL"""


class PayloadError(ValueError):
    """An answer does not have the documented shape."""


@dataclass(kw_only=True)
class ConversationCheck:
    dsn: Secret = setting(
        help="Connection string of the voice platform's database (secret: `${VAR}` or `dsn_file`).",
        example="${VOICE_DATABASE_URL}",
    )
    lookback: Duration = setting(Duration(7200), help="Provider conversations started within this window are checked.")
    grace: Duration = setting(
        Duration(900),
        help="A conversation counts only once it ended this long ago: the webhook may still be in flight.",
    )
    finished_statuses: list[str] = setting(
        ["done"], help="Provider statuses that mean the call is over and a `conversation:end` webhook was due."
    )
    agent_id: str | None = setting(None, help="Only this ElevenLabs agent's conversations (default: all).")
    page_size: int = setting(100, help="Conversations per page (the API allows at most 100).")
    max_pages: int = setting(
        20,
        help="Pages read per refresh at most; when reached, `lookout_elevenlabs_conversations_listing_truncated` is 1.",
        at_cap="lower bound: `lookout_elevenlabs_conversations_listing_truncated` is 1 and the finished and "
        "missing counts are lower bounds (alert ElevenLabsListingTruncated)."
    )
    query: str = setting(
        ENDED_QUERY.strip(),
        help="SQL returning the `conversation_id` of those in `%(ids)s` (a text array) that the platform "
        "recorded as ended.",
    )
    statement_timeout: Duration = setting(Duration(5), help="Server-side limit for the query.")
    connect_timeout: Duration = setting(Duration(3), help="Limit for opening the database connection.")

    def validate(self) -> None:
        if not 1 <= self.page_size <= 100:
            raise ValueError("page_size: must be between 1 and 100")
        if self.max_pages < 1:
            raise ValueError("max_pages: must be at least 1")
        if not self.finished_statuses:
            raise ValueError("finished_statuses: must not be empty")
        if "%(ids)s" not in self.query:
            raise ValueError("query: must use %(ids)s")
        check_one_statement(self.query, "query")


@dataclass(kw_only=True)
class ElevenLabsSettings(HttpSettings):
    interval: Duration = setting(
        Duration(300),
        help="How often the subscription and the conversation list are read. ElevenLabs limits concurrent "
        "requests per plan rather than requests per minute; one refresh makes 1 + up to `max_pages` sequential "
        "calls, so 5 minutes stays far below any limit.",
    )
    base_url: str = setting("https://api.elevenlabs.io", help="API root.")
    conversations: ConversationCheck | None = setting(
        None, help="Cross-check of finished conversations against the platform's database (default: off)."
    )


class ElevenLabsCollector(Collector[ElevenLabsSettings]):
    name = "elevenlabs"
    Settings = ElevenLabsSettings
    summary = (
        "Reads the ElevenLabs subscription (characters used and allowed, next reset, status) and, optionally, "
        "lists the provider's finished conversations of the last hours to count those the platform's database "
        "never recorded as ended: the conversations whose `conversation:end` webhook was lost, hence not charged."
    )
    example = """
elevenlabs:
  api_key: ${ELEVENLABS_API_KEY}
  interval: 5m
  conversations:
    dsn: ${VOICE_DATABASE_URL}
    lookback: 2h
    grace: 15m
"""
    metrics = (
        gauge("lookout_elevenlabs_subscription_characters_used", "Characters (credits) used in the current period."),
        gauge("lookout_elevenlabs_subscription_characters_limit",
              "Characters (credits) allowed in the current period."),
        gauge("lookout_elevenlabs_subscription_next_reset_timestamp_seconds",
              "Unix time when the character count resets."),
        info("lookout_elevenlabs_subscription_info",
             "Plan and status of the subscription (status: active, past_due...).",
             "tier", "status"),
        gauge("lookout_elevenlabs_conversations_finished",
              "Provider conversations finished (more than grace ago) that started within the look-back window."),
        gauge("lookout_elevenlabs_conversations_missing_end_event",
              "Of those, the ones the platform's database never recorded as ended (missed end webhooks)."),
        gauge("lookout_elevenlabs_conversations_listing_truncated",
              "1 if the listing stopped at max_pages, so the counts above are lower bounds."),
        *PROVIDER_METRICS,
    )

    def __init__(self, settings: ElevenLabsSettings):
        super().__init__(settings)
        self.client = HttpClient.from_settings(
            settings.base_url, {"xi-api-key": str(settings.api_key)}, settings, stop=threading.Event()
        )
        self.health = ApiHealth("elevenlabs", self.client)
        self.db: PgSource | None = None
        check = settings.conversations
        if check is not None:
            pg = PgSettings(
                dsn=check.dsn, statement_timeout=check.statement_timeout, connect_timeout=check.connect_timeout,
                application_name="lookout-elevenlabs",
            )
            self.db = PgSource(self.name, pg, {"ended": check.query})
        self.clock = time.time

    def refresh(self, snap: Snapshot) -> None:
        ok = True
        try:
            sub = self.client.get_json("/v1/user/subscription")
            if sub.data is not None:
                _subscription(snap, sub.data)
            ok = sub.data is not None
            self.health.record(sub, ok)
            if self.settings.conversations is not None and ok:
                ok = self._conversations(snap, self.settings.conversations)
        except Exception:
            self.health.up = False
            raise
        self.health.up = ok
        self.health.emit(snap)
        self.health.raise_if_throttled()

    def _conversations(self, snap: Snapshot, check: ConversationCheck) -> bool:
        now = self.clock()
        window_start = int(now - float(check.lookback))
        ended_before = now - float(check.grace)
        statuses = set(check.finished_statuses)
        finished: set[str] = set()
        params: dict[str, Any] = {"page_size": check.page_size, "call_start_after_unix": window_start}
        if check.agent_id:
            params["agent_id"] = check.agent_id
        truncated = False
        for page in range(check.max_pages):
            result = self.client.get_json("/v1/convai/conversations", params=dict(params))
            if result.data is None:
                self.health.record(result, ok=False)
                return False
            items, has_more, cursor = parse_conversations(result.data)
            self.health.record(result, ok=True)
            oldest = None
            for c in items:
                start = c["start_time_unix_secs"]
                oldest = start if oldest is None else min(oldest, start)
                if start < window_start:
                    continue
                if c["status"] in statuses and start + c["call_duration_secs"] <= ended_before:
                    finished.add(c["conversation_id"])
            # newest first: a page reaching past the window ends the listing even if the filter is ignored
            if not has_more or not cursor or (oldest is not None and oldest < window_start):
                break
            if page == check.max_pages - 1:
                truncated = True
                break
            params["cursor"] = cursor
        missing = 0
        if finished:
            assert self.db is not None
            rows = self.db.run("ended", params={"ids": sorted(finished)})["ended"]
            recorded = {str(r.get("conversation_id")) for r in rows}
            missing = len(finished - recorded)
        snap.add("lookout_elevenlabs_conversations_finished", len(finished))
        snap.add("lookout_elevenlabs_conversations_missing_end_event", missing)
        snap.add("lookout_elevenlabs_conversations_listing_truncated", 1 if truncated else 0)
        return True

    def stop(self) -> None:
        self.client.close()
        if self.db is not None:
            self.db.cancel_and_close()


def _subscription(snap: Snapshot, data: Any) -> None:
    if not isinstance(data, dict):
        raise PayloadError("GET /v1/user/subscription: answer is not an object")
    for field, metric in (
        ("character_count", "lookout_elevenlabs_subscription_characters_used"),
        ("character_limit", "lookout_elevenlabs_subscription_characters_limit"),
        ("next_character_count_reset_unix", "lookout_elevenlabs_subscription_next_reset_timestamp_seconds"),
    ):
        v = data.get(field)
        if v is None:
            continue  # absent on some plans: publish what is there
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise PayloadError(f"GET /v1/user/subscription: {field} is not a number")
        snap.add(metric, float(v))
    snap.add_info("lookout_elevenlabs_subscription_info", {}, tier=_short(data.get("tier")),
                  status=_short(data.get("status")))


def _short(v: Any) -> str:
    return str(v or "unknown")[:40]


def parse_conversations(data: Any) -> tuple[list[dict[str, Any]], bool, str | None]:
    """``(conversations, has_more, next_cursor)`` from a list answer; raises PayloadError on a wrong shape."""
    if not isinstance(data, dict) or not isinstance(data.get("conversations"), list):
        raise PayloadError("GET /v1/convai/conversations: answer has no conversations list")
    out = []
    for c in data["conversations"]:
        if not isinstance(c, dict) or not c.get("conversation_id"):
            raise PayloadError("GET /v1/convai/conversations: entry without conversation_id")
        try:
            start = int(c.get("start_time_unix_secs"))
            duration = int(c.get("call_duration_secs") or 0)
        except (TypeError, ValueError):
            raise PayloadError("GET /v1/convai/conversations: entry without numeric start time") from None
        out.append({"conversation_id": str(c["conversation_id"]), "start_time_unix_secs": start,
                    "call_duration_secs": duration, "status": str(c.get("status") or "")})
    cursor = data.get("next_cursor")
    return out, bool(data.get("has_more")), str(cursor) if cursor else None


COLLECTOR = ElevenLabsCollector

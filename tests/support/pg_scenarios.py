"""Scenario data for the PostgreSQL collectors' tests, at exact boundaries around a fixed ``NOW``.

Each row's comment says what it must count as; the expected values live in the tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from lookout.exporters.collector import Snapshot
from lookout.exporters.collectors import collector_class
from lookout.exporters.config import build_dataclass

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
S, M, H, D = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def schema(name: str) -> str:
    return (ROOT / "exporters" / "schemas" / f"{name}.sql").read_text()


def load_voice(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for cust in (1, 2, 3):
            conn.execute(
                "INSERT INTO customer_agents (id, customer_id, elevenlabs_agent_id, name) VALUES (%s, %s, %s, %s)",
                (cust, cust, f"el-agent-{cust}", f"agent of customer {cust}"),
            )
        rows = [
            # conversation_id, customer, started, ended, duration, charged
            ("c01-noend", 1, NOW - 31 * M, None, None, None),  # no_end_event, 1800 s (max_call_length)
            ("c02-open-at-max", 1, NOW - 30 * M, None, None, None),  # exactly max_call_length: not yet
            ("c03-open-short", 2, NOW - 10 * M, None, None, None),  # still talking
            ("c04-noend-edge", 2, NOW - 24 * H, None, None, None),  # window edge included: no_end_event 1800 s
            ("c05-noend-old", 2, NOW - 24 * H - S, None, None, None),  # outside the window
            ("c06-uncharged", 2, NOW - 2 * H, NOW - 2 * H + 120 * S, 120, None),  # not_charged 120 s
            ("c07-grace-edge", 3, NOW - 6 * M, NOW - 5 * M, 60, None),  # ended exactly grace ago: not yet
            ("c08-uncharged", 3, NOW - 7 * M, NOW - 5 * M - S, 61, None),  # not_charged 61 s
            ("c09-over", 1, NOW - 3 * H, NOW - 3 * H + 100 * S, 100, 102),  # charge_mismatch 2 s
            ("c10-tol-edge", 1, NOW - 3 * H, NOW - 3 * H + 100 * S, 100, 101),  # |diff| = tolerance: fine
            ("c11-under", 3, NOW - 4 * H, NOW - 4 * H + 100 * S, 100, 40),  # charge_mismatch 60 s
            ("c12-ok", 3, NOW - 4 * H, NOW - 4 * H + 50 * S, 50, 50),  # reconciled
            ("c13-old-mismatch", 1, NOW - 25 * H, NOW - 25 * H + 10 * S, 10, 500),  # outside the window
            ("c14-noend-known", 3, NOW - 3 * H, None, 200, None),  # no_end_event, duration known: 200 s
        ]
        for cid, cust, started, ended, duration, charged in rows:
            conn.execute(
                "INSERT INTO conversations (conversation_id, customer_id, agent_id, started_at, ended_at,"
                " duration_seconds, credits_charged) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (cid, cust, cust, started, ended, duration, charged),
            )
        # The ledger of c09: the customer's own charge, plus a row of another tenant pointing at the
        # same conversation, which the report's join on (conversation, customer) must ignore.
        conn.execute(
            "INSERT INTO credit_transactions (customer_id, conversation_id, delta_credits, reason) "
            "SELECT 1, id, -102, 'conversation' FROM conversations WHERE conversation_id = 'c09-over' "
            "UNION ALL SELECT 2, id, -999, 'conversation' FROM conversations WHERE conversation_id = 'c09-over'"
        )
        conn.execute(
            "INSERT INTO customer_credits (customer_id, balance_credits) VALUES (1, -50), (2, -10), (3, 100)"
        )


def load_chatcenter(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        sellers = [
            # id, active, created, last_active
            (1, True, NOW - 100 * D, NOW - H),  # active
            (2, True, NOW - 100 * D, NOW - 7 * D),  # active: exactly active_window
            (3, True, NOW - 100 * D, NOW - 7 * D - S),  # not active any more (capacity), still synced
            (4, False, NOW - 100 * D, NOW),  # disabled: ignored everywhere
            (5, True, NOW - 10 * M, None),  # new, never synced
        ]
        for sid, active, created, last_active in sellers:
            conn.execute(
                "INSERT INTO sellers (id, name, is_active, created_at, last_active_at) VALUES (%s, %s, %s, %s, %s)",
                (sid, f"shop-{sid}", active, created, last_active),
            )
        accounts = [
            (1, "wb", NOW + 10 * D, True),  # expiring within 14 d
            (1, "ozon", None, True),  # no expiry known
            (2, "wb", NOW - D, True),  # expired: the earliest
            (2, "ozon", NOW - 50 * D, False),  # inactive account: ignored
            (3, "wb", NOW + 14 * D, True),  # exactly the horizon: expiring
            (4, "wb", NOW - 100 * D, True),  # disabled seller: ignored
            (5, "wb", NOW + 30 * D, True),  # fine
        ]
        for sid, mp, expires, active in accounts:
            conn.execute(
                "INSERT INTO seller_marketplace_accounts (seller_id, marketplace, token_expires_at, is_active)"
                " VALUES (%s, %s, %s, %s)",
                (sid, mp, expires, active),
            )
        sync = [
            # seller, marketplace, kind, last_success, consecutive_errors
            (1, "wb", "chats", NOW - 30 * S, 0),
            (1, "wb", "feedbacks", NOW - 120 * S, 0),  # lag exactly 120 s: not stale beyond 120
            (1, "wb", "questions", NOW - 121 * S, 0),  # stale beyond 120
            (1, "ozon", "chats", NOW - 2 * H, 5),  # stale beyond every threshold, erroring
            (2, "wb", "chats", NOW - 16 * M, 3),  # stale beyond 120 and 900, erroring (>= 3)
            (2, "ozon", "chats", NOW - 5 * D, 9),  # inactive account: ignored
            (3, "wb", "chats", NOW - 10 * S, 2),  # fresh, 2 errors: below the threshold
            (4, "wb", "chats", NOW - 10 * D, 50),  # disabled seller: ignored
            (5, "wb", "chats", None, 1),  # never succeeded: lag since creation, 600 s
        ]
        for sid, mp, kind, ok, errors in sync:
            conn.execute(
                "INSERT INTO sync_state (seller_id, marketplace, kind, last_success_at, consecutive_errors)"
                " VALUES (%s, %s, %s, %s, %s)",
                (sid, mp, kind, ok, errors),
            )
        interactions = [
            # seller, channel, status, due, escalated
            (1, "chat", "open", NOW - H, None),  # breached, unescalated
            (1, "chat", "open", NOW - S, None),  # breached, within the escalation grace
            (2, "chat", "open", NOW, None),  # due now: at risk
            (2, "chat", "open", NOW + 30 * M, None),  # exactly the horizon: at risk
            (1, "chat", "open", NOW + 30 * M + S, None),  # beyond the horizon
            (1, "chat", "answered", NOW - 2 * H, None),  # answered: ignored
            (2, "feedback", "open", NOW - 2 * D, NOW - 2 * D + 5 * M),  # breached, escalated
            (2, "feedback", "open", NOW - 31 * D, None),  # oldest breach; ignored only with max_age 30d
            (1, "feedback", "open", NOW - 30 * D, None),  # exactly max_age 30d: still breached, unescalated
            (1, "question", "open", None, None),  # no deadline: ignored
        ]
        for n, (sid, channel, status, due, escalated) in enumerate(interactions):
            conn.execute(
                "INSERT INTO interactions (seller_id, channel, marketplace, external_id, status, created_at,"
                " sla_due_at, escalated_at) VALUES (%s, %s, 'wb', %s, %s, %s, %s, %s)",
                (sid, channel, f"ext-{n}", status, NOW - 40 * D, due, escalated),
            )
        chats = [NOW - D, NOW - D - S, NOW - H, NOW + S]  # counted: first and third
        for n, created in enumerate(chats):
            conn.execute(
                "INSERT INTO chats (seller_id, marketplace, external_id, created_at) VALUES (1, 'wb', %s, %s)",
                (f"chat-{n}", created),
            )
        for n, seen in enumerate([NOW - 5 * M, NOW - 5 * M - S, NOW - S, None]):  # counted: first and third
            conn.execute(
                "INSERT INTO seller_users (seller_id, email, last_seen_at) VALUES (1, %s, %s)",
                (f"user{n}@example.test", seen),
            )


def make(name: str, dsn: str, **settings: object):
    cls = collector_class(name)
    collector = cls(build_dataclass(cls.Settings, {"dsn": dsn, **settings}, f"collectors.{name}"))
    collector.clock = lambda: NOW
    return collector


def refresh(collector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    snap = Snapshot(collector.metrics)
    collector.refresh(snap)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in snap.families() for s in fam.samples}

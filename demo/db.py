"""Database helpers of the demo: connections, the reference schemas, and the seed rows.

Reads/writes: the voice database (``exporters/schemas/voice.sql``) and the chat-center database
(``exporters/schemas/chatcenter.sql``); both may be the same database (their table names differ).
Applying the schemas and seeding are idempotent and serialised by an advisory lock, so several
supervisors (split containers) may start at once.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import psycopg

from lookout import exporters

SCHEMAS = Path(exporters.__file__).resolve().parent / "schemas"
_LOCK_ID = 0x10_0C_0A_7D  # arbitrary: "lookout demo"

# Default response-time targets (minutes) seeded into sla_rules: (channel, priority, minutes).
SLA_RULES = (
    ("chat", "high", 10),
    ("chat", "normal", 30),
    ("chat", "low", 120),
    ("question", "normal", 60),
    ("feedback", "normal", 240),
)


def connect(url: str, app: str, **kw) -> psycopg.Connection:
    """A connection with the timeouts every demo process uses (autocommit unless told otherwise)."""
    kw.setdefault("autocommit", True)
    return psycopg.connect(url, application_name=app, connect_timeout=5,
                           options="-c statement_timeout=10000", **kw)


class Lazy:
    """One connection per process, opened on first use, reopened after a fork or a failure."""

    def __init__(self, url: str, app: str):
        self.url, self.app = url, app
        self._conn: psycopg.Connection | None = None
        self._pid = 0

    def get(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._conn = connect(self.url, self.app)
            self._pid = os.getpid()
        return self._conn

    def reset(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None


def apply_schema(url: str, name: str, count: int) -> None:
    """Apply ``<name>.sql`` and seed ``count`` customers (voice) or sellers (chat) if the tables are empty."""
    sql = (SCHEMAS / f"{name}.sql").read_text()
    with connect(url, "demo-setup") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(sql)
            (seed_voice if name == "voice" else seed_chat)(conn, count)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def seed_voice(conn: psycopg.Connection, customers: int) -> None:
    """Customers with two agents each, a license and a starting balance (once)."""
    if conn.execute("SELECT count(*) FROM customer_agents").fetchone()[0]:
        return
    with conn.transaction():
        for c in range(1, customers + 1):
            for k in (1, 2):
                agent = conn.execute(
                    "INSERT INTO customer_agents (customer_id, elevenlabs_agent_id, name) VALUES (%s, %s, %s) "
                    "RETURNING id", (c, f"agent_demo_{c}_{k}", f"Demo agent {c}.{k}"),
                ).fetchone()[0]
                conn.execute("INSERT INTO agent_licenses (agent_id, customer_id) VALUES (%s, %s)", (agent, c))
            conn.execute(
                "INSERT INTO customer_credits (customer_id, balance_credits) VALUES (%s, 1000000) "
                "ON CONFLICT (customer_id) DO NOTHING", (c,))
            conn.execute("INSERT INTO credit_transactions (customer_id, delta_credits, reason) "
                         "VALUES (%s, 1000000, 'top_up')", (c,))


def seed_chat(conn: psycopg.Connection, sellers: int) -> None:
    """Sellers with users, WB and Ozon accounts, SLA rules and a few long-inactive chats (once)."""
    if conn.execute("SELECT count(*) FROM sellers").fetchone()[0]:
        return
    with conn.transaction():
        for s in range(1, sellers + 1):
            sid = conn.execute("INSERT INTO sellers (name, last_active_at) VALUES (%s, now()) RETURNING id",
                               (f"Demo seller {s}",)).fetchone()[0]
            for u in (1, 2):
                conn.execute("INSERT INTO seller_users (seller_id, email) VALUES (%s, %s)",
                             (sid, f"user{u}@seller{s}.example"))
            for mp in ("wb", "ozon"):
                conn.execute(
                    "INSERT INTO seller_marketplace_accounts (seller_id, marketplace, token_encrypted, "
                    "token_expires_at) VALUES (%s, %s, %s, now() + interval '150 days')",
                    (sid, mp, os.urandom(32)))
            # a chat nobody wrote in for two weeks: auto_close_inactive_chats closes it on its first run
            conn.execute(
                "INSERT INTO chats (seller_id, marketplace, external_id, created_at, last_message_at, analyzed_at) "
                "VALUES (%s, 'wb', %s, now() - interval '20 days', now() - interval '15 days', "
                "now() - interval '15 days')", (sid, f"wb-old-{sid}"))
        for channel, priority, minutes in SLA_RULES:
            conn.execute("INSERT INTO sla_rules (channel, priority, response_minutes) VALUES (%s, %s, %s)",
                         (channel, priority, minutes))
        conn.execute("INSERT INTO runtime_setting (key, value) VALUES ('auto_close_after_days', '10') "
                     "ON CONFLICT (key) DO NOTHING")

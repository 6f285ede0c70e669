"""Bodies of the chat center's periodic tasks (see ``lookout.demo.chat.tasks`` for what each does).

Kept apart from the Celery app so that beat, which only sends tasks, never imports psycopg and requests;
the worker imports this module once in its main process (``worker_init``), before forking its pool.
"""

from __future__ import annotations

import os

import psycopg
import requests

from lookout.demo.db import Lazy
from lookout.demo.settings import Settings

settings = Settings.from_env()
db = Lazy(settings.chat_db, "demo-celery")
KINDS = ("chats", "feedbacks", "questions")
SYSTEM_PROMPT = (
    "You are the analysis engine of a marketplace chat center. For the buyer conversation below, return JSON "
    "with intent (order_status, return, product_question, complaint, praise, other), sentiment (-1..1), "
    "priority (low, normal, high) and a one-sentence suggested reply in the buyer's language. " * 3
)

_session: tuple[int, requests.Session] | None = None


def http() -> requests.Session:
    global _session
    if _session is None or _session[0] != os.getpid():
        _session = (os.getpid(), requests.Session())
    return _session[1]


class SyncError(Exception):
    pass


def _conn() -> psycopg.Connection:
    try:
        conn = db.get()
        conn.execute("SELECT 1")
        return conn
    except psycopg.Error:
        db.reset()
        return db.get()


def _sla_due(conn: psycopg.Connection, seller: int, channel: str, priority: str, created: float) -> float | None:
    row = conn.execute(
        "SELECT response_minutes FROM sla_rules WHERE is_active AND channel = %s "
        "AND (seller_id = %s OR seller_id IS NULL) ORDER BY (priority = %s) DESC, (seller_id IS NULL) LIMIT 1",
        (channel, seller, priority)).fetchone()
    return None if row is None else created + row[0] * 60 / settings.speed


def _interaction(conn: psycopg.Connection, seller: int, channel: str, mp: str, ext: str, chat_id: int | None,
                 priority: str, created: float) -> None:
    due = _sla_due(conn, seller, channel, priority, created)
    conn.execute(
        "WITH i AS (INSERT INTO interactions (seller_id, channel, marketplace, external_id, chat_id, priority, "
        "  created_at, sla_due_at) VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s)) "
        "  RETURNING id, seller_id) "
        "INSERT INTO interaction_events (interaction_id, seller_id, event_type) SELECT id, seller_id, 'created' FROM i",
        (seller, channel, mp, ext, chat_id, priority, created, due))


def _store(conn: psycopg.Connection, seller: int, mp: str, kind: str, items: list[dict]) -> None:
    for it in items:
        created = float(it["created_at"])
        if kind == "chats":
            chat_id = conn.execute(
                "INSERT INTO chats (seller_id, marketplace, external_id, created_at, last_message_at) "
                "VALUES (%s, %s, %s, to_timestamp(%s), to_timestamp(%s)) "
                "ON CONFLICT (seller_id, marketplace, external_id) DO UPDATE SET "
                "last_message_at = EXCLUDED.last_message_at, status = 'open', closed_at = NULL RETURNING id",
                (seller, mp, it["chat_id"], created, created)).fetchone()[0]
            conn.execute("INSERT INTO messages (chat_id, seller_id, direction, body, created_at) "
                         "VALUES (%s, %s, 'in', %s, to_timestamp(%s))", (chat_id, seller, it["text"], created))
            if not conn.execute("SELECT 1 FROM interactions WHERE chat_id = %s AND status = 'open' LIMIT 1",
                                (chat_id,)).fetchone():
                _interaction(conn, seller, "chat", mp, it["chat_id"], chat_id, it.get("priority", "normal"), created)
        else:
            channel = kind[:-1]  # feedbacks -> feedback
            if not conn.execute("SELECT 1 FROM interactions WHERE seller_id = %s AND marketplace = %s AND "
                                "channel = %s AND external_id = %s", (seller, mp, channel, it["id"])).fetchone():
                _interaction(conn, seller, channel, mp, it["id"], None, "normal", created)


def _record(conn: psycopg.Connection, seller: int, mp: str, kind: str, error: str | None) -> None:
    if error is None:
        conn.execute(
            "INSERT INTO sync_state (seller_id, marketplace, kind, last_success_at, last_attempt_at) "
            "VALUES (%s, %s, %s, now(), now()) ON CONFLICT (seller_id, marketplace, kind) DO UPDATE SET "
            "last_success_at = now(), last_attempt_at = now(), consecutive_errors = 0", (seller, mp, kind))
    else:
        conn.execute(
            "INSERT INTO sync_state (seller_id, marketplace, kind, last_attempt_at, last_error_at, last_error, "
            "consecutive_errors) VALUES (%s, %s, %s, now(), now(), %s, 1) "
            "ON CONFLICT (seller_id, marketplace, kind) DO UPDATE SET last_attempt_at = now(), "
            "last_error_at = now(), last_error = EXCLUDED.last_error, "
            "consecutive_errors = sync_state.consecutive_errors + 1", (seller, mp, kind, error[:200]))


def _sync_one(conn: psycopg.Connection, seller: int, mp: str, kind: str) -> None:
    key = f"sync_cursor:{seller}:{mp}:{kind}"
    row = conn.execute("SELECT value FROM runtime_setting WHERE key = %s", (key,)).fetchone()
    after = int(row[0]) if row else 0
    try:
        r = http().get(f"{settings.marketplace_base}/{mp}/api/v1/{kind}",
                       params={"seller": seller, "after": after, "limit": 200},
                       headers={"Authorization": f"Bearer demo-token-{seller}"}, timeout=settings.http_timeout)
    except requests.Timeout as exc:
        raise SyncError("timeout") from exc
    except requests.RequestException as exc:
        raise SyncError(f"connection error: {type(exc).__name__}") from exc
    if r.status_code != 200:
        raise SyncError(f"HTTP {r.status_code}")
    try:
        body = r.json()
        items, nxt = body["items"], int(body["next"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SyncError("malformed response") from exc
    with conn.transaction():
        _store(conn, seller, mp, kind, items)
        conn.execute("INSERT INTO runtime_setting (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                     "SET value = EXCLUDED.value, updated_at = now()", (key, str(nxt)))
        _record(conn, seller, mp, kind, None)


def sync_all_sellers() -> dict:
    conn = _conn()
    accounts = conn.execute(
        "SELECT a.seller_id, a.marketplace FROM seller_marketplace_accounts a JOIN sellers s ON s.id = a.seller_id "
        "WHERE a.is_active AND s.is_active ORDER BY 1, 2").fetchall()
    down: dict[str, str] = {}
    ok = failed = 0
    for seller, mp in accounts:
        for kind in KINDS:
            if mp in down:
                _record(conn, seller, mp, kind, f"skipped after {down[mp]}")
                failed += 1
                continue
            try:
                _sync_one(conn, seller, mp, kind)
                ok += 1
            except SyncError as exc:
                _record(conn, seller, mp, kind, str(exc))
                down[mp] = str(exc)
                failed += 1
    if failed and not ok:  # nothing synced at all: the run fails (recorded in sync_state first)
        raise SyncError(f"every marketplace call failed: {', '.join(sorted(set(down.values())))}")
    return {"ok": ok, "failed": failed}


def check_sla_escalation() -> int:
    rows = _conn().execute(
        "WITH e AS (UPDATE interactions SET escalated_at = now() WHERE status = 'open' AND sla_due_at < now() "
        "  AND escalated_at IS NULL RETURNING id, seller_id) "
        "INSERT INTO interaction_events (interaction_id, seller_id, event_type) "
        "SELECT id, seller_id, 'escalated' FROM e RETURNING id").fetchall()
    return len(rows)


def analyze_pending_chats() -> int:
    conn = _conn()
    chats = conn.execute(
        "SELECT c.id, c.seller_id, coalesce((SELECT string_agg(m.body, E'\\n' ORDER BY m.created_at) "
        "  FROM messages m WHERE m.chat_id = c.id), '') FROM chats c "
        "WHERE c.analyzed_at IS NULL AND c.status = 'open' ORDER BY c.created_at LIMIT 20").fetchall()
    done = 0
    for chat_id, seller, text in chats:
        model = "deepseek-flash"  # the current name; deepseek-chat was retired on 2026-07-24
        r = http().post(
            f"{settings.deepseek_base}/chat/completions",
            json={"model": model, "max_tokens": 200, "messages": [
                {"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text or "(empty chat)"}]},
            headers={"Authorization": f"Bearer {settings.deepseek_api_key}"}, timeout=settings.http_timeout)
        if r.status_code != 200:
            raise RuntimeError(f"DeepSeek answered HTTP {r.status_code} after {done} analyses")
        usage = r.json()["usage"]
        with conn.transaction():
            conn.execute(
                "INSERT INTO llm_usage (provider, model, feature, seller_id, input_cache_hit_tokens, "
                "input_cache_miss_tokens, output_tokens) VALUES ('deepseek', %s, 'chat_analysis', %s, %s, %s, %s)",
                (r.json().get("model", model), seller, usage.get("prompt_cache_hit_tokens", 0),
                 usage.get("prompt_cache_miss_tokens", usage.get("prompt_tokens", 0)),
                 usage.get("completion_tokens", 0)))
            conn.execute("UPDATE chats SET analyzed_at = now() WHERE id = %s", (chat_id,))
        done += 1
    return done


def auto_close_inactive_chats() -> int:
    conn = _conn()
    row = conn.execute("SELECT value FROM runtime_setting WHERE key = 'auto_close_after_days'").fetchone()
    days = int(row[0]) if row else 10
    rows = conn.execute(
        "WITH c AS (UPDATE chats SET status = 'closed', closed_at = now() WHERE status = 'open' "
        "  AND coalesce(last_message_at, created_at) < now() - make_interval(days => %s) RETURNING id), "
        "i AS (UPDATE interactions SET status = 'closed', closed_at = now() "
        "  WHERE chat_id IN (SELECT id FROM c) AND status <> 'closed' RETURNING id, seller_id), "
        "e AS (INSERT INTO interaction_events (interaction_id, seller_id, event_type) "
        "  SELECT id, seller_id, 'closed' FROM i) "
        "SELECT id FROM c", (days,)).fetchall()
    return len(rows)

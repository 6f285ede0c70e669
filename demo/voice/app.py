"""The voice-agent platform's API: a Flask app (run by Gunicorn) receiving ElevenLabs-style webhooks.

Reads: ``POST /webhooks/elevenlabs`` events signed with ``ElevenLabs-Signature: t=<unix>,v0=<hex>``
(HMAC-SHA256 of ``"<t>.<raw body>"`` with the webhook secret, accepted within ``TOLERANCE`` seconds):
- ``conversation_initiation`` (the seed's ``conversation:init``): ``data.agent_id``, ``data.conversation_id``,
  optional ``data.metadata.start_time_unix_secs``;
- ``post_call_transcription`` (the seed's ``conversation:end``): ``data.conversation_id`` and
  ``data.metadata.call_duration_secs``.
Writes: ``conversations``, ``credit_transactions`` and ``customer_credits`` (1 credit = 1 second).
Bad signature -> 401, malformed JSON or payload -> 400, unknown agent or conversation -> 404; none of
them touches the database. The fault ``wrong-charges`` multiplies the amount charged.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from typing import Any

import psycopg
from flask import Flask, Response, jsonify, request

from lookout.demo.db import Lazy
from lookout.demo.faults import store
from lookout.demo.settings import Settings
from lookout.demo.voice.signature import BadRequest, verify_signature

settings = Settings.from_env()
db = Lazy(settings.voice_db, "demo-voice-api")
faults = store(settings.redis_url)
log = logging.getLogger("lookout.demo.voice")
app = Flask("lookout.demo.voice")
# the fault `broken-deploy` restarts Gunicorn with this set: the release's new code needs a module that the
# deploy did not install (the first seed's incident 2, "ModuleNotFoundError after a deploy")
BROKEN_DEPLOY = os.environ.get("DEMO_BROKEN_DEPLOY") == "1"


def _field(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            raise BadRequest(400, f"missing field {'.'.join(path)}")
        obj = obj[key]
    return obj


def _int_field(obj: Any, *path: str) -> int:
    val = _field(obj, *path)
    if isinstance(val, bool) or not isinstance(val, int | float) or val < 0:
        raise BadRequest(400, f"field {'.'.join(path)} must be a non-negative number")
    return int(val)


def _start(conn: psycopg.Connection, event: dict) -> tuple[int, dict]:
    data = _field(event, "data")
    agent_ext, conv = str(_field(data, "agent_id")), str(_field(data, "conversation_id"))
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    started = meta.get("start_time_unix_secs", event.get("event_timestamp", time.time()))
    if isinstance(started, bool) or not isinstance(started, int | float):
        raise BadRequest(400, "start time must be a number")
    agent = conn.execute("SELECT id, customer_id FROM customer_agents WHERE elevenlabs_agent_id = %s AND is_active",
                         (agent_ext,)).fetchone()
    if agent is None:
        raise BadRequest(404, "unknown agent")
    row = conn.execute(
        "INSERT INTO conversations (conversation_id, customer_id, agent_id, started_at) "
        "VALUES (%s, %s, %s, to_timestamp(%s)) ON CONFLICT (conversation_id) DO NOTHING RETURNING id",
        (conv, agent[1], agent[0], started)).fetchone()
    return 200, {"status": "started" if row else "duplicate"}


def _end(conn: psycopg.Connection, event: dict) -> tuple[int, dict]:
    data = _field(event, "data")
    conv = str(_field(data, "conversation_id"))
    duration = _int_field(data, "metadata", "call_duration_secs")
    ended = event.get("event_timestamp", time.time())
    if isinstance(ended, bool) or not isinstance(ended, int | float):
        raise BadRequest(400, "event_timestamp must be a number")
    factor = faults.value("wrong-charges")
    charge = duration if factor is None else round(duration * factor)
    with conn.transaction():
        row = conn.execute(
            "SELECT id, customer_id, ended_at FROM conversations WHERE conversation_id = %s FOR UPDATE",
            (conv,)).fetchone()
        if row is None:
            raise BadRequest(404, "unknown conversation")
        if row[2] is not None:
            return 200, {"status": "duplicate"}
        conn.execute(
            "UPDATE conversations SET ended_at = to_timestamp(%s), duration_seconds = %s, credits_charged = %s, "
            "charged_at = now(), status = 'done' WHERE id = %s", (ended, duration, charge, row[0]))
        conn.execute("INSERT INTO credit_transactions (customer_id, conversation_id, delta_credits, reason) "
                     "VALUES (%s, %s, %s, 'conversation')", (row[1], row[0], -charge))
        conn.execute("UPDATE customer_credits SET balance_credits = balance_credits - %s, updated_at = now() "
                     "WHERE customer_id = %s", (charge, row[1]))
    return 200, {"status": "charged", "credits": charge}


HANDLERS = {"conversation_initiation": _start, "conversation_init": _start, "post_call_transcription": _end}
IGNORED = {"post_call_audio", "call_initiation_failure"}


@app.post("/webhooks/elevenlabs")
def webhook() -> tuple[Response, int]:
    body = request.get_data(cache=False)
    if BROKEN_DEPLOY:
        import lookout.demo.voice.call_summaries  # noqa: F401  (the release needs it; the deploy did not install it)
    try:
        verify_signature(request.headers.get("ElevenLabs-Signature"), body, settings.webhook_secret)
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise BadRequest(400, "malformed JSON") from exc
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise BadRequest(400, "missing event type")
        if event["type"] in IGNORED:
            return jsonify(status="ignored"), 200
        handler = HANDLERS.get(event["type"])
        if handler is None:
            raise BadRequest(400, "unknown event type")
        try:
            status, payload = handler(db.get(), event)
        except psycopg.Error:
            db.reset()  # a broken connection must not poison the next request
            raise
        return jsonify(payload), status
    except BadRequest as exc:
        log.info("webhook rejected: %s %s", exc.status, exc.message)
        return jsonify(error=exc.message), exc.status


@app.get("/health")
def health() -> tuple[Response, int]:
    try:
        db.get().execute("SELECT 1")
    except psycopg.Error:
        db.reset()
        return jsonify(status="error", database="down"), 503
    return jsonify(status="ok"), 200


# Gunicorn imports this module once in its master (--preload) and forks the workers: freezing the objects
# keeps the garbage collector from touching (and so copying) the pages they share
gc.freeze()

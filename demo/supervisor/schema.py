"""The demo's databases made ready before anything starts: the reference schemas and seed rows of the voice
and chat center databases (``lookout.demo.db.apply_schema``, idempotent), retried while PostgreSQL is still starting
(split containers and compose start at once)."""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from lookout.demo import db
from lookout.demo.settings import Settings

log = logging.getLogger("lookout.demo")


def apply_schemas(s: Settings, stop: threading.Event, timeout: float = 120) -> None:
    todo = [(s.voice_db, "voice", s.customers)] if "voice" in s.parts else []
    if "chat" in s.parts:
        todo.append((s.chat_db, "chatcenter", s.sellers))
    deadline = time.monotonic() + timeout
    for url, name, count in todo:
        while True:
            try:
                db.apply_schema(url, name, count)
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline or stop.is_set():
                    raise
                log.warning("database not ready for %s schema (%s); retrying", name, str(exc).splitlines()[0])
                time.sleep(2)

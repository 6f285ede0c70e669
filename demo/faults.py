"""The fault switches: their names, what each breaks, and where their state lives.

Reads/writes (through ``lookout.demo.resp``): the Redis hash ``demo:faults`` (field = fault name, value = JSON
``{"value": X, "since": T}``; absent = off). Redis is shared by every part of the demo (Gunicorn and
Uvicorn workers, Celery tasks, the fake marketplace, the supervisors of split containers), so one switch
reaches all of them; each process caches the hash for ``CACHE_SECONDS``.
Publishes: ``FAULTS`` (the catalogue, also the source of the table in docs/demo.md), ``FaultStore``
and ``active(name)`` for the code that misbehaves on purpose.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass

from lookout.demo.resp import Resp, RespError

KEY = "demo:faults"
CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class Fault:
    name: str
    part: str  # which part of the demo applies it: voice | chat | providers
    default: float | None  # value used when "on" is given without --value
    value_help: str
    effect: str  # what an operator (and a test) observes


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("drop-end-webhooks", "voice", 0.3, "share of calls whose end webhook is never sent (0..1)",
          "that share of new conversations keep `ended_at` NULL and are never charged; the fake ElevenLabs still "
          "lists them as done, so the cross-check counts them as missing an end event"),
    Fault("wrong-charges", "voice", 0.5, "factor applied to the charged credits",
          "ended conversations are charged `round(duration * factor)` credits instead of `duration`"),
    Fault("kill-gunicorn-worker", "voice", 15.0, "seconds between kills",
          "one Gunicorn worker is SIGKILLed now and again every VALUE seconds; the master replaces it "
          "(worker PIDs churn)"),
    Fault("kill-gunicorn-master", "voice", None, "",
          "the Gunicorn master is SIGKILLed with its workers; port 5002 refuses connections until off"),
    Fault("kill-uvicorn-worker", "chat", 15.0, "seconds between kills",
          "one Uvicorn worker is SIGKILLed now and again every VALUE seconds; the master replaces it"),
    Fault("kill-uvicorn-master", "chat", None, "",
          "the Uvicorn master is SIGKILLed with its workers; /api/health and /api/metrics are down until off"),
    Fault("kill-celery-worker", "chat", None, "",
          "the Celery worker is SIGKILLed (main process and pool); heartbeats stop, beat keeps queueing tasks"),
    Fault("stop-beat", "chat", None, "", "Celery beat is stopped: no periodic task is sent any more"),
    Fault("stop-mcp", "voice", None, "", "the MCP stand-in is stopped: its /health refuses connections"),
    Fault("marketplace-slow", "providers", 5.0, "delay in seconds added to every marketplace response",
          "marketplace calls exceed the sync timeout: sync_state records timeouts and the sync lag grows"),
    Fault("marketplace-429", "providers", None, "",
          "the marketplace answers 429 with Retry-After: sync errors, consecutive_errors and lag grow"),
    Fault("marketplace-5xx", "providers", None, "",
          "the marketplace answers 503: sync errors, consecutive_errors and lag grow"),
    Fault("sla-unanswered", "chat", None, "",
          "sellers' users stop answering: open interactions pass `sla_due_at` and check_sla_escalation "
          "escalates them"),
    Fault("llm-spend-spike", "providers", 10000.0, "multiplier of the tokens the fake DeepSeek reports",
          "every analysis reports VALUE times more tokens in its `usage`: tokens and USD spend in `llm_usage` jump "
          "and the fake balance drains faster"),
    Fault("llm-402", "providers", None, "",
          "the fake DeepSeek answers 402 Insufficient Balance and reports a zero balance: analyze_pending_chats "
          "fails and chats stay unanalysed"),
    Fault("grow-capacity", "chat", 1.2, "multiple of the seed's scaling thresholds to reach",
          "extra sellers, users and chats are inserted to reach VALUE x the thresholds (100 active sellers, "
          "10k chats/day, 1000 concurrent users); off deletes them"),
    Fault("api-errors", "chat", 0.5, "share of API requests answered 500 (0..1)",
          "that share of chat API requests (not /api/health, /api/metrics) fail with 500"),
    Fault("api-slow", "chat", 2.0, "seconds added to each API request",
          "chat API requests (not /api/health, /api/metrics) take VALUE seconds longer"),
    Fault("broken-deploy", "voice", None, "",
          "a new release of the voice API is deployed (new REVISION, Gunicorn restarted) whose webhook handler "
          "raises ModuleNotFoundError: webhooks answer 500 and the tracebacks fill the error log; off deploys a "
          "working release"),
    Fault("hold-db-connections", "voice", None, "connections to hold (default: up to 90% of max_connections)",
          "the demo opens connections to the voice database and leaves them idle in transaction"),
    Fault("block-db", "voice", 2.0, "sessions left waiting on the lock",
          "one session locks a row of `demo_lock` in the voice database and stays idle in transaction; VALUE "
          "others try to update the row and wait: `lookout-exporter report blocking` shows the tree"),
    Fault("miss-backup", "voice", None, "",
          "the demo's backup job (a pg_dump of the voice database every --backup-interval) skips its runs; off "
          "takes a backup at once"),
)}


class FaultStore:
    """The shared switches in Redis, cached per process (safe after fork: one client per PID)."""

    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self._client: Resp | None = None
        self._pid = 0
        self._cache: dict[str, dict] = {}
        self._cached_at = -1e9
        self._lock = threading.Lock()

    def _redis(self) -> Resp:
        if self._client is None or self._pid != os.getpid():
            self._client = Resp(self.redis_url)
            self._pid = os.getpid()
        return self._client

    def all(self, max_age: float = CACHE_SECONDS) -> dict[str, dict]:
        with self._lock:
            if time.monotonic() - self._cached_at >= max_age:
                try:
                    raw = self._redis().call("HGETALL", KEY)
                    assert isinstance(raw, list)
                    self._cache = {raw[i].decode(): json.loads(raw[i + 1]) for i in range(0, len(raw), 2)}
                except (OSError, RespError, ValueError, AssertionError):
                    pass  # Redis down: keep the last known switches
                self._cached_at = time.monotonic()
            return dict(self._cache)

    def active(self, name: str) -> dict | None:
        return self.all().get(name)

    def value(self, name: str) -> float | None:
        """The fault's value if it is on (its default when none was given), else None."""
        state = self.active(name)
        if state is None:
            return None
        v = state.get("value")
        return float(v) if v is not None else (FAULTS[name].default or 0.0)

    def set(self, name: str, on: bool, value: float | None = None) -> None:
        if name not in FAULTS:
            raise KeyError(name)
        with self._lock:  # one socket per process: calls must not interleave
            if on:
                self._redis().call("HSET", KEY, name, json.dumps({"value": value, "since": time.time()}))
            else:
                self._redis().call("HDEL", KEY, name)
            self._cached_at = -1e9


_stores: dict[str, FaultStore] = {}


def store(redis_url: str) -> FaultStore:
    if redis_url not in _stores:
        _stores[redis_url] = FaultStore(redis_url)
    return _stores[redis_url]

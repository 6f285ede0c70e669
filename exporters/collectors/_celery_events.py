"""Celery event stream: worker heartbeats and task outcomes, kept in bounded memory.

Reads: the ``celeryev`` event exchange through kombu (a Redis PUB/SUB subscription), in a background
thread that reconnects with exponential backoff after the broker goes away. Workers publish
``worker-online``/``worker-heartbeat``/``worker-offline`` without ``-E`` (unless started with
``--without-heartbeat``); ``task-*`` events need ``-E`` (``worker_send_task_events``), and
``task-sent`` needs ``task_send_sent_event`` on the producer.
Publishes: ``EventState`` (workers with their last heartbeat, per-task-name counters, runtime
histograms and last success times) read by the collector at each refresh.

Memory bounds: at most ``max_task_names`` names (configured periodic tasks always fit; further names
are counted as ``other``), at most ``max_inflight`` task ids remembered to name ``task-succeeded``
events (which carry no name), and hostnames forgotten ``worker_forget_after`` after their last heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("lookout.exporters.collectors.celery")

OUTCOMES = {
    "task-sent": "sent",
    "task-received": "received",
    "task-started": "started",
    "task-succeeded": "succeeded",
    "task-failed": "failed",
    "task-retried": "retried",
    "task-rejected": "rejected",
    "task-revoked": "revoked",
}
TERMINAL = ("task-succeeded", "task-failed", "task-rejected", "task-revoked")
OTHER, UNKNOWN = "other", "unknown"


@dataclass
class Worker:
    last: float
    freq: float
    active: int = 0
    offline: bool = False


@dataclass
class TaskStats:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES.values(), 0))
    buckets: list[int] = field(default_factory=list)  # non-cumulative, one per bound plus +Inf
    runtime_sum: float = 0.0
    last_success: float = 0.0

    def copy(self) -> TaskStats:
        return TaskStats(dict(self.counts), list(self.buckets), self.runtime_sum, self.last_success)


@dataclass(frozen=True)
class EventsReading:
    """What ``EventState.read`` returns: the stream's state and a copy of every task's statistics."""

    connected: bool
    events: int
    tasks: dict[str, TaskStats]


class EventState:
    """Thread-safe state fed by events and read by refreshes."""

    def __init__(self, *, buckets: list[float], periodic: list[str], max_task_names: int,
                 forget_after: float, expire_factor: float, max_inflight: int = 10000):
        self.bounds = sorted(buckets)
        self.periodic = list(periodic)
        self.max_task_names = max_task_names
        self.forget_after, self.expire_factor = forget_after, expire_factor
        self.max_inflight = max_inflight
        self.lock = threading.Lock()
        self.workers: dict[str, Worker] = {}
        self.tasks: dict[str, TaskStats] = {}
        self.inflight: OrderedDict[str, str] = OrderedDict()  # task id -> name label
        self.events = 0
        self.connected = False
        self._alias: dict[str, str] = {}

    # --- naming ------------------------------------------------------------------------------------
    def label(self, name: str | None) -> str:
        """The ``name`` label for a task name: configured names as written, others capped."""
        if not name:
            return UNKNOWN
        cached = self._alias.get(name)
        if cached is not None:
            return cached
        short = name.rsplit(".", 1)[-1]
        for p in self.periodic:
            if name == p or ("." not in p and short == p):
                label = p
                break
        else:
            label = name if len(self.tasks) < self.max_task_names else OTHER
        if len(self._alias) < 4 * self.max_task_names:
            self._alias[name] = label
        return label

    def _stats(self, label: str) -> TaskStats:
        st = self.tasks.get(label)
        if st is None:
            st = self.tasks[label] = TaskStats(buckets=[0] * (len(self.bounds) + 1))
        return st

    # --- events --------------------------------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        now = time.time()
        kind = event.get("type", "")
        with self.lock:
            self.events += 1
            if kind.startswith("worker-"):
                self._on_worker(kind, event, now)
            elif kind in OUTCOMES:
                self._on_task(kind, event, now)

    def _on_worker(self, kind: str, event: dict[str, Any], now: float) -> None:
        host = str(event.get("hostname") or "")
        if not host:
            return
        w = self.workers.get(host)
        freq = float(event.get("freq") or 2.0)
        if kind == "worker-offline":
            if w is not None:
                w.offline = True
            return
        if w is None:
            w = self.workers[host] = Worker(now, freq)
        w.last, w.freq, w.offline = now, freq, False
        if "active" in event:
            w.active = int(event.get("active") or 0)

    def _on_task(self, kind: str, event: dict[str, Any], now: float) -> None:
        uuid = str(event.get("uuid") or "")
        name = event.get("name")
        if name:
            label = self.label(str(name))
            if uuid and kind not in TERMINAL:
                self.inflight[uuid] = label
                self.inflight.move_to_end(uuid)
                while len(self.inflight) > self.max_inflight:
                    self.inflight.popitem(last=False)
        else:
            label = self.inflight.get(uuid, UNKNOWN)
        if kind in TERMINAL:
            self.inflight.pop(uuid, None)
        st = self._stats(label)
        st.counts[OUTCOMES[kind]] += 1
        if kind == "task-succeeded":
            st.last_success = max(st.last_success, now)
            runtime = event.get("runtime")
            if isinstance(runtime, int | float) and runtime >= 0:
                st.runtime_sum += float(runtime)
                i = 0
                while i < len(self.bounds) and runtime > self.bounds[i]:
                    i += 1
                st.buckets[i] += 1

    # --- reading -------------------------------------------------------------------------------------
    def worker_status(self, now: float) -> dict[str, tuple[bool, int]]:
        """hostname -> (up, active tasks); forgets hosts silent for longer than ``forget_after``."""
        out: dict[str, tuple[bool, int]] = {}
        with self.lock:
            for host in list(self.workers):
                w = self.workers[host]
                if now - w.last > self.forget_after:
                    del self.workers[host]
                    continue
                up = not w.offline and now - w.last <= self.expire_factor * w.freq
                out[host] = (up, w.active if up else 0)
        return out

    def last_successes(self, names: Iterable[str]) -> dict[str, float]:
        """The last success of each of ``names`` that has succeeded (event, hook or persisted time)."""
        with self.lock:
            found = ((n, self.tasks.get(n)) for n in names)
            return {n: st.last_success for n, st in found if st is not None and st.last_success > 0}

    def baseline_last_success(self, names: Iterable[str], now: float) -> None:
        """Date the tasks of ``names`` never seen to succeed to ``now`` (when monitoring started), so that
        their staleness is measured from then rather than from 1970."""
        with self.lock:
            for name in names:
                st = self._stats(name)
                if st.last_success <= 0:
                    st.last_success = now

    def read(self) -> EventsReading:
        """A consistent copy of what the events told, for one refresh to publish without holding the lock."""
        with self.lock:
            return EventsReading(self.connected, self.events, {name: st.copy() for name, st in self.tasks.items()})

    def merge_last_success(self, stored: dict[str, float]) -> None:
        """Take persisted (or hook-written) times that are newer than ours."""
        with self.lock:
            for raw, ts in stored.items():
                label = self.label(raw)
                if label in (OTHER, UNKNOWN):
                    continue
                st = self._stats(label)
                st.last_success = max(st.last_success, ts)


class EventListener:
    """Background thread consuming the event stream into an ``EventState``.

    Uses kombu alone (no Celery app): a non-durable auto-delete queue bound to the event exchange with
    routing key ``#``, as ``celery.events.EventReceiver`` does; on Redis kombu maps it to PUB/SUB.
    """

    def __init__(self, url: str, transport_options: dict[str, Any], state: EventState,
                 exchange: str = "celeryev", backoff_max: float = 10.0):
        self.url, self.options, self.state = url, transport_options, state
        self.exchange, self.backoff_max = exchange, backoff_max
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="celery-events", daemon=True)
        self._logged_down = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(0.3)

    def _on_message(self, body: Any, _message: Any) -> None:
        for event in body if isinstance(body, list) else [body]:  # celery may batch events
            if isinstance(event, dict):
                self.state.on_event(event)

    def _run(self) -> None:
        import uuid

        from kombu import Connection, Consumer, Exchange, Queue

        # celery declares the event exchange as a topic exchange and switches it to fanout on Redis
        queue = Queue(f"lookout.celeryev.{uuid.uuid4().hex}", Exchange(self.exchange, type="fanout"),
                      routing_key="#", auto_delete=True, durable=False, message_ttl=5.0, expires=60.0)
        delay = 0.5
        while not self._stop.is_set():
            try:
                with Connection(self.url, transport_options=self.options, connect_timeout=3) as conn:
                    conn.ensure_connection(max_retries=1)
                    with Consumer(conn, queues=[queue], callbacks=[self._on_message], accept=["json"], no_ack=True):
                        self._set_connected(True)
                        delay = 0.5
                        while not self._stop.is_set():
                            try:
                                conn.drain_events(timeout=0.5)
                            except TimeoutError:
                                conn.heartbeat_check()
            except Exception as exc:  # the broker went away: back off and reconnect
                self._set_connected(False, exc)
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self.backoff_max)

    def _set_connected(self, ok: bool, exc: BaseException | None = None) -> None:
        with self.state.lock:
            self.state.connected = ok
        if not ok and not self._logged_down:
            from lookout.exporters import conninfo, source_errors

            reason = source_errors.describe(exc, conninfo.target(self.url)) if exc is not None else "closed"
            log.warning("celery event stream disconnected: %s", reason)
            self._logged_down = True
        elif ok:
            self._logged_down = False

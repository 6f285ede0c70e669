"""Celery on a Redis broker: true queue depth, waiting age, workers and periodic-task freshness.

Reads: the broker's Redis keys as laid out by kombu's Redis transport (see ``_celery_broker``: every
priority sub-queue, the ``unacked`` hash and ``unacked_index`` set, ``_kombu.binding.*`` sets), one
pipelined round per refresh whose cost does not grow with queue length; the Celery event stream in a
background thread (``_celery_events``: heartbeats without ``-E``, task outcomes with ``-E``); and the
exporter's own Redis hash of last-success times (``state_key``), which survives exporter restarts.
Publishes: ``celery_queue_length`` and ``lookout_celery_queue_*`` per ``queue_name``,
``celery_worker_up``/``lookout_celery_workers`` from heartbeats, ``lookout_celery_task_*_total`` and
``lookout_celery_task_runtime_seconds`` per task ``name``, and ``lookout_celery_task_last_success_timestamp_seconds``/
``lookout_celery_periodic_task_interval_seconds`` for the configured periodic tasks (the three ``celery_*`` names
are celery-exporter's, same type and labels). Method, error bounds and memory bounds: docs/celery.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from lookout.exporters.binding import Duration, Secret, setting
from lookout.exporters.collector import Collector, CollectorSettings, Snapshot, counter, gauge, histogram
from lookout.exporters.collectors._celery_broker import (
    DEFAULT_MAX_DISCOVERED,
    DEFAULT_SEP,
    OTHER,
    BrokerInspector,
    QueueSelector,
)
from lookout.exporters.collectors._celery_events import OUTCOMES, EventListener, EventState

log = logging.getLogger(__name__)
DEFAULT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0]


@dataclass
class CelerySettings(CollectorSettings):
    interval: Duration = setting(
        Duration(2),
        help="How often queues are read and worker liveness is evaluated. Keep it at or below the workers' "
        "heartbeat interval (2s by default) so a dead worker shows as down within 3 heartbeat intervals.",
    )
    broker_url: Secret = setting(
        Secret("redis://127.0.0.1:6379/0"),
        help="Celery broker URL (`redis://` or `rediss://`); use `${VAR}` or `broker_url_file` for a password.",
    )
    queues: list[str] = setting(
        [], help="Queues to watch. Always watched in addition to those discovered; `celery` if none is known."
    )
    discover_queues: bool = setting(
        True, help="Also watch every queue bound in kombu's `_kombu.binding.*` sets (rescanned every minute)."
    )
    max_queues: int = setting(
        100,
        help="At most this many queues get their own `queue_name` series: the configured ones first, then the "
        "deepest (ready + reserved; a shown queue keeps its place until another is twice as deep). Every queue is "
        "still read: the rest are summed into `queue_name=\"_other\"` (oldest age for the ages), so totals stay "
        "exact; `lookout_celery_queues_folded` counts them and the first fold is logged.",
        at_cap='exact: the rest are summed into `queue_name="_other"`; `lookout_celery_queues_folded` counts them '
        "(alert CeleryQueuesFolded).",
    )
    max_discovered_queues: int = setting(
        DEFAULT_MAX_DISCOVERED,
        help="At most this many queues (configured first, then discovered by name) are read each refresh. Past "
        "it, `lookout_celery_queues_unread` counts those left out and every total is a lower bound (alert "
        "CeleryQueuesUnread).",
        at_cap="lower bound: `lookout_celery_queues_unread` counts the queues not read (alert CeleryQueuesUnread).",
    )
    priority_steps: list[int] = setting(
        [0, 3, 6, 9], help="kombu's `priority_steps` transport option: one Redis list per step."
    )
    sep: str | None = setting(None, help="kombu's `sep` transport option. Default: kombu's `\\x06\\x16`.")
    global_keyprefix: str | None = setting(None, help="kombu's `global_keyprefix` transport option, if set.")
    periodic_tasks: dict[str, Duration] = setting(
        {},
        help="Periodic (beat) task name -> expected interval. A name without a dot also matches a task whose "
        "dotted name ends with it. Each gets `lookout_celery_task_last_success_timestamp_seconds`.",
    )
    state_key: str = setting(
        "lookout:celery:last_success",
        help="Redis hash (under `global_keyprefix`) where last-success times persist across exporter restarts; "
        "also written by `lookout.exporters.celery_hooks`.",
    )
    persist: bool = setting(True, help="Write last-success times of the periodic tasks to `state_key`.")
    events: bool = setting(True, help="Listen to the Celery event stream (heartbeats, task events).")
    heartbeat_expire_factor: float = setting(
        2.0, help="A worker is down when no heartbeat arrived for this many of its heartbeat intervals."
    )
    worker_forget_after: Duration = setting(
        Duration(3600), help="A silent worker's `celery_worker_up` 0 series is kept this long, then dropped."
    )
    max_task_names: int = setting(
        200, help="At most this many task names as labels; further names are counted as `other`.",
        at_cap='exact: further task names are counted under `name="other"` (outcomes of tasks whose id was '
        'forgotten, beyond 10,000 in flight, under `name="unknown"`).',
    )
    max_unacked: int = setting(
        5000,
        help="At most this many unacked messages (the oldest deliveries) are read and attributed to queues each "
        "refresh; the rest count as unattributed. Bounds the refresh cost (about 1 ms in Redis per 1,000).",
        at_cap="exact in total: `lookout_celery_unacked_messages` counts all, the unread ones are in "
        "`lookout_celery_unacked_unattributed_messages`; per-queue `lookout_celery_queue_reserved` is then a lower "
        "bound.",
    )
    runtime_buckets: list[float] = setting(DEFAULT_BUCKETS,
                                           help="Upper bounds of `lookout_celery_task_runtime_seconds`.")

    def validate(self) -> None:
        if not self.priority_steps or any(not 0 <= s <= 255 for s in self.priority_steps):
            raise ValueError("priority_steps: expected a non-empty list of integers from 0 to 255")
        if self.heartbeat_expire_factor < 1:
            raise ValueError("heartbeat_expire_factor: must be at least 1")
        if min(self.max_task_names, self.max_queues, self.max_unacked, self.max_discovered_queues) < 1:
            raise ValueError("max_task_names, max_queues, max_discovered_queues and max_unacked must be positive")
        if self.sep == "":
            raise ValueError("sep: must not be empty")


class CeleryCollector(Collector[CelerySettings]):
    name = "celery"
    Settings = CelerySettings
    summary = (
        "Celery with a Redis broker. Queue depth summed over kombu's priority sub-queues, delivered-but-unacked "
        "(prefetched, ETA/countdown) messages per queue, the age of the oldest waiting message, worker liveness "
        "from heartbeats (no `-E` needed), task outcomes and runtimes from task events (`-E`), and freshness of "
        "periodic tasks persisted in Redis so exporter restarts neither raise nor hide alerts. Every refresh is "
        "one pipelined Redis round whose cost does not grow with queue length. Its `interval` defaults to 2s "
        "(Celery's heartbeat interval) so a dead worker shows within 3 heartbeats. See docs/celery.md."
    )
    example = """\
celery:
  broker_url: redis://127.0.0.1:6379/0
  queues: [celery]
  periodic_tasks:
    sync_all_sellers: 30s
    analyze_pending_chats: 2m
    check_sla_escalation: 5m
    auto_close_inactive_chats: 24h
"""
    metrics = (
        gauge("celery_queue_length",
              "Ready messages in the queue, summed over all priority sub-queues. `queue_name=\"_other\"` sums the "
              "queues beyond max_queues, so the sum over queue_name is the broker's total.", "queue_name"),
        gauge("lookout_celery_queue_reserved",
              "Messages delivered to workers but not acked yet (prefetched, ETA/countdown), from kombu's unacked "
              "index.", "queue_name"),
        gauge("lookout_celery_queue_oldest_message_age_seconds",
              "Estimated time the oldest ready message has waited (0 when the queue is empty); see docs/celery.md.",
              "queue_name"),
        gauge("lookout_celery_queue_oldest_reserved_age_seconds",
              "Time since the oldest unacked message of the queue was delivered to a worker (0 when none).",
              "queue_name"),
        gauge("lookout_celery_queue_unparseable_messages",
              "Waiting messages of the queue that are not valid JSON: those checked on arrival (up to 64 per refresh "
              "over all queues) plus the oldest of each priority list.",
              "queue_name"),
        gauge("lookout_celery_queues_discovered", "Distinct queues known (configured and bound in the broker)."),
        gauge("lookout_celery_queues_folded",
              "Queues read but summed into `queue_name=\"_other\"` because more than max_queues exist."),
        gauge("lookout_celery_queues_unread",
              "Known queues beyond max_discovered_queues, not read: when above 0 every queue total is a lower bound."),
        gauge("lookout_celery_unacked_messages", "All delivered-but-unacked messages in the broker."),
        gauge("lookout_celery_unacked_unattributed_messages",
              "Unacked messages whose queue is unknown, not watched, malformed or beyond max_unacked."),
        gauge("celery_worker_up", "1 if the worker sent a heartbeat within heartbeat_expire_factor intervals.",
              "hostname"),
        gauge("celery_worker_tasks_active", "Tasks the worker is executing, from its last heartbeat.", "hostname"),
        gauge("lookout_celery_workers", "Workers currently up (sending heartbeats)."),
        counter("lookout_celery_task_sent_total", "task-sent events (needs task_send_sent_event).", "name"),
        counter("lookout_celery_task_received_total", "task-received events: a worker received the task (-E).", "name"),
        counter("lookout_celery_task_started_total", "task-started events (needs task_track_started and -E).", "name"),
        counter("lookout_celery_task_succeeded_total", "task-succeeded events (-E).", "name"),
        counter("lookout_celery_task_failed_total", "task-failed events (-E).", "name"),
        counter("lookout_celery_task_retried_total", "task-retried events (-E).", "name"),
        counter("lookout_celery_task_rejected_total", "task-rejected events (-E).", "name"),
        counter("lookout_celery_task_revoked_total", "task-revoked events (-E).", "name"),
        histogram("lookout_celery_task_runtime_seconds", "Runtime of succeeded tasks, from task-succeeded events (-E).",
                  "name"),
        gauge("lookout_celery_task_last_success_timestamp_seconds",
              "Unix time of the task's last success (events or the lookout.exporters.celery_hooks hook), "
              "persisted in Redis. A configured periodic task never seen gets the time monitoring started.", "name"),
        gauge("lookout_celery_periodic_task_interval_seconds", "Configured interval of the periodic task.", "name"),
        gauge("lookout_celery_event_stream_up", "1 while the event listener is subscribed to the broker."),
        counter("lookout_celery_events_received_total", "Celery events received by the listener."),
    )

    def __init__(self, settings: CelerySettings):
        super().__init__(settings)
        s = settings
        self.sep = s.sep or DEFAULT_SEP
        self.broker = BrokerInspector(
            s.broker_url, queues=s.queues, discover=s.discover_queues, priority_steps=s.priority_steps,
            sep=self.sep, prefix=s.global_keyprefix or "", state_key=s.state_key,
            timeout=float(s.timeout or max(1.0, float(s.interval))), max_unacked=s.max_unacked,
            max_discovered=s.max_discovered_queues,
        )
        self.selector = QueueSelector(s.queues, s.max_queues)
        self._folding = self._unread = False
        self.state = EventState(
            buckets=s.runtime_buckets, periodic=list(s.periodic_tasks), max_task_names=s.max_task_names,
            forget_after=float(s.worker_forget_after), expire_factor=s.heartbeat_expire_factor,
        )
        self.listener: EventListener | None = None
        self._persisted: dict[str, float] = {}
        self._baselined = False

    def transport_options(self) -> dict[str, object]:
        s = self.settings
        opts: dict[str, object] = {"priority_steps": list(s.priority_steps), "sep": self.sep}
        if s.global_keyprefix:
            opts["global_keyprefix"] = s.global_keyprefix
        return opts

    def start(self) -> None:
        if self.settings.events and self.listener is None:
            self.listener = EventListener(self.settings.broker_url, self.transport_options(), self.state)
            self.listener.start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.broker.close()

    def _to_persist(self) -> dict[str, float]:
        if not self.settings.persist:
            return {}
        known = self.state.last_successes(self.settings.periodic_tasks)
        return {name: ts for name, ts in known.items() if ts > self._persisted.get(name, 0.0)}

    def refresh(self, snap: Snapshot) -> None:
        s = self.settings
        pending = self._to_persist()
        try:
            reading = self.broker.read(pending)
        except Exception:
            self.broker.close()  # reconnect next time
            raise
        self._persisted.update(pending)
        self.state.merge_last_success(reading.state)
        now = time.time()
        if not self._baselined:
            # a periodic task never seen anywhere is dated to when monitoring started (persisted next refresh)
            self.state.baseline_last_success(s.periodic_tasks, now)
            self._baselined = True

        published, folded = self.selector.select(reading.queues)
        self._log_caps(reading.discovered, folded, reading.unread)
        snap.add("lookout_celery_queues_discovered", reading.discovered)
        snap.add("lookout_celery_queues_folded", folded)
        snap.add("lookout_celery_queues_unread", reading.unread)
        for q, qr in published.items():
            snap.add("celery_queue_length", qr.ready, queue_name=q)
            snap.add("lookout_celery_queue_reserved", qr.reserved, queue_name=q)
            age = max(0.0, now - qr.oldest_enqueued) if qr.ready and qr.oldest_enqueued is not None else 0.0
            snap.add("lookout_celery_queue_oldest_message_age_seconds", age, queue_name=q)
            rage = max(0.0, now - qr.oldest_delivered) if qr.oldest_delivered is not None else 0.0
            snap.add("lookout_celery_queue_oldest_reserved_age_seconds", rage, queue_name=q)
            snap.add("lookout_celery_queue_unparseable_messages", qr.unparseable, queue_name=q)
        snap.add("lookout_celery_unacked_messages", reading.unacked_total)
        snap.add("lookout_celery_unacked_unattributed_messages",
                 reading.unacked_unattributed + reading.unacked_unparseable)
        self._emit_events(snap, now)

    def _log_caps(self, discovered: int, folded: int, unread: int) -> None:
        # once when a cap starts to bite (again after it stopped): the gauges say it every refresh
        s = self.settings
        if folded and not self._folding:
            log.warning("celery: %d queues known, max_queues is %d: %d are summed into queue_name=%r; raise "
                        "max_queues or name the important queues in `queues`", discovered, s.max_queues, folded, OTHER)
        if unread and not self._unread:
            log.warning("celery: %d queues known, max_discovered_queues is %d: %d are not read and every total is a "
                        "lower bound", discovered, s.max_discovered_queues, unread)
        self._folding, self._unread = bool(folded), bool(unread)

    def _emit_events(self, snap: Snapshot, now: float) -> None:
        s = self.settings
        workers = self.state.worker_status(now)
        for f in ("celery_worker_up", "celery_worker_tasks_active"):
            snap.declare(f)
        for host, (up, active) in sorted(workers.items()):
            snap.add("celery_worker_up", 1 if up else 0, hostname=host)
            snap.add("celery_worker_tasks_active", active, hostname=host)
        snap.add("lookout_celery_workers", sum(1 for up, _a in workers.values() if up))
        bounds = self.state.bounds
        events = self.state.read()
        snap.add("lookout_celery_event_stream_up", 1 if events.connected else 0)
        snap.add("lookout_celery_events_received_total", events.events)
        for name, st in sorted(events.tasks.items()):
            for outcome in OUTCOMES.values():
                snap.add(f"lookout_celery_task_{outcome}_total", st.counts[outcome], name=name)
            cumulative, buckets = 0, []
            for le, n in zip([*bounds, float("inf")], st.buckets, strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            snap.add_histogram("lookout_celery_task_runtime_seconds", buckets, st.runtime_sum, name=name)
            if st.last_success > 0:
                snap.add("lookout_celery_task_last_success_timestamp_seconds", st.last_success, name=name)
        for name, ival in s.periodic_tasks.items():
            snap.add("lookout_celery_periodic_task_interval_seconds", float(ival), name=name)


COLLECTOR = CeleryCollector

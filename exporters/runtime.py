"""The runtime: schedules every collector in its own thread and keeps its last snapshot.

Reads: the collectors' ``refresh`` results.
Publishes, for every collector (label ``collector``):
``lookout_collector_up``, ``lookout_collector_duration_seconds``,
``lookout_collector_last_success_timestamp_seconds``, ``lookout_collector_errors_total``,
plus ``lookout_exporter_build_info``. ``/metrics`` only ever reads snapshots under a lock, so a hung
source never delays a scrape: a refresh running longer than its timeout is reported as ``up`` 0.
A collector thread that dies outside a refresh is reported as ``up`` 0 at once, counted in
``lookout_collector_errors_total``, logged, and restarted with backoff by a supervisor thread.

When a refresh fails the collector's gauges are dropped (a dead source must not look healthy) and
its counters and histograms are kept from the last good snapshot, so ``rate()`` sees no reset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.core import Metric
from prometheus_client.registry import Collector as PromCollector

from lookout.exporters import __version__, source_errors
from lookout.exporters.collector import Collector, MetricSpec, Snapshot, counter, gauge, info

log = logging.getLogger("lookout.exporters.runtime")

COLLECTOR_UP = gauge(
    "lookout_collector_up",
    "1 if the collector's last refresh succeeded, none is overdue and its thread is alive.",
    "collector",
)
COLLECTOR_DURATION = gauge("lookout_collector_duration_seconds", "Duration of the collector's last refresh.",
                           "collector")
COLLECTOR_LAST_SUCCESS = gauge(
    "lookout_collector_last_success_timestamp_seconds",
    "Unix time of the collector's last successful refresh (0 if none yet).",
    "collector",
)
COLLECTOR_ERRORS = counter("lookout_collector_errors_total", "Refreshes of the collector that failed.", "collector")
COLLECTOR_INTERVAL = gauge("lookout_collector_interval_seconds", "Configured refresh interval of the collector.",
                           "collector")
BUILD_INFO = info("lookout_exporter_build_info", "Version of the exporter.", "version")
RUNTIME_METRICS: tuple[MetricSpec, ...] = (
    COLLECTOR_UP, COLLECTOR_DURATION, COLLECTOR_LAST_SUCCESS, COLLECTOR_ERRORS, COLLECTOR_INTERVAL, BUILD_INFO,
)


@dataclass
class CollectorState:
    collector: Collector
    snapshot: list[Metric] = field(default_factory=list)
    up: bool = False
    refreshed: bool = False
    duration: float = 0.0
    last_success: float = 0.0
    errors: int = 0
    running_since: float | None = None
    last_error: str = ""


class Runner:
    """Runs one collector: a background thread refreshing on its interval, restarted if it dies.

    A refresh that raises is a failed refresh (``refresh_once``). Anything that ends the thread
    otherwise (a ``BaseException`` from the collector, an error in the scheduling itself) marks the
    collector down at once, counts an error, logs it, and the runtime's supervisor starts a new thread
    after a backoff (``RESTART_BACKOFF`` doubling up to ``RESTART_BACKOFF_MAX``).
    """

    RESTART_BACKOFF = 1.0
    RESTART_BACKOFF_MAX = 60.0
    STABLE_AFTER = 300.0  # a thread that lived this long resets the backoff when it dies

    def __init__(self, collector: Collector, stop: threading.Event):
        self.state = CollectorState(collector)
        self.lock = threading.Lock()
        self._stop = stop
        self._thread: threading.Thread | None = None
        self._thread_started = 0.0
        self._backoff = self.RESTART_BACKOFF
        self._restart_at: float | None = None
        self.restarts = 0

    @property
    def name(self) -> str:
        return self.state.collector.name

    @property
    def thread_alive(self) -> bool:
        """False once the collector's thread has died (and until its replacement runs)."""
        return self._thread is None or self._thread.is_alive()

    def refresh_once(self) -> bool:
        """Refresh now in the calling thread; return True on success."""
        c = self.state.collector
        snap = Snapshot(c.metrics)
        started = time.monotonic()
        with self.lock:
            self.state.running_since = started
        error: BaseException | None = None
        try:
            c.refresh(snap)
        except Exception as exc:  # a dead source is a metric, never a crash
            error = exc
        duration = time.monotonic() - started
        with self.lock:
            st = self.state
            st.running_since = None
            st.duration = duration
            was_up, st.refreshed = st.up if st.refreshed else None, True
            if error is None:
                st.up, st.last_success, st.snapshot, st.last_error = True, time.time(), snap.families(), ""
            else:
                st.up = False
                st.errors += 1
                # classified and redacted here, once: /healthz, the log and `once` all show this line
                st.last_error = source_errors.describe(error, source_errors.target_of(c.settings))
                if getattr(error, "keep_snapshot", False):  # a failure that still says something (throttled)
                    st.snapshot = snap.families()
                else:
                    st.snapshot = [m for m in st.snapshot if m.type in ("counter", "histogram")]
        if error is None and was_up is False:
            log.info("collector %s recovered", c.name)
        elif error is not None and was_up is not False:
            log.error("collector %s failed: %s", c.name, self.state.last_error.splitlines()[0][:500])
        return error is None

    def _loop(self) -> None:
        interval = float(self.state.collector.settings.interval)
        while not self._stop.is_set():
            started = time.monotonic()
            self.refresh_once()
            elapsed = time.monotonic() - started
            self._stop.wait(max(0.05, interval - elapsed))

    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # the thread is ending: say so, the supervisor restarts it
            self._died(exc)
        else:
            if not self._stop.is_set():
                self._died(None)

    def _died(self, exc: BaseException | None) -> None:
        c = self.state.collector
        why = "exited" if exc is None else source_errors.describe(exc, source_errors.target_of(c.settings))
        lived = time.monotonic() - self._thread_started
        if lived >= self.STABLE_AFTER or not self.restarts:
            self._backoff = self.RESTART_BACKOFF
        else:  # dies again soon after a restart: wait longer each time
            self._backoff = min(self._backoff * 2, self.RESTART_BACKOFF_MAX)
        with self.lock:
            st = self.state
            st.up = False
            st.running_since = None
            st.errors += 1
            st.last_error = f"collector thread died: {why}"
            st.snapshot = [m for m in st.snapshot if m.type in ("counter", "histogram")]
            self._restart_at = time.monotonic() + self._backoff
        log.error("collector %s: thread died (%s); restarting in %.0fs", c.name, why.splitlines()[0][:300],
                  self._backoff)

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"collector-{self.name}", daemon=True)
        self._thread_started = time.monotonic()
        self._thread.start()

    def supervise(self, now: float) -> None:
        """Called by the runtime's supervisor: start a new thread once the backoff after a death is over."""
        if self._stop.is_set() or self._thread is None or self._thread.is_alive():
            return
        with self.lock:
            if self._restart_at is None:  # died without passing through _died (cannot happen, but be sure)
                self._restart_at = now
                self.state.up = False
            due = now >= self._restart_at
        if due:
            self._restart_at = None
            self.restarts += 1
            log.info("collector %s: thread restarted (restart %d)", self.name, self.restarts)
            self._start_thread()

    def start(self) -> None:
        self.state.collector.start()
        self._start_thread()

    def stop(self) -> None:
        try:
            self.state.collector.stop()
        except Exception as exc:
            log.warning("collector %s did not stop cleanly: %s", self.name, exc)


class Runtime(PromCollector):
    """Owns the runners and is the prometheus_client collector behind ``/metrics``."""

    def __init__(self, collectors: Iterable[Collector]):
        self.stop_event = threading.Event()
        self.runners = [Runner(c, self.stop_event) for c in collectors]

    SUPERVISE_EVERY = 0.2

    def start(self) -> None:
        for r in self.runners:
            r.start()
        threading.Thread(target=self._supervise, name="collector-supervisor", daemon=True).start()

    def _supervise(self) -> None:
        while not self.stop_event.wait(self.SUPERVISE_EVERY):
            now = time.monotonic()
            for r in self.runners:
                try:
                    r.supervise(now)
                except Exception:  # the supervisor must outlive anything it watches
                    log.exception("supervising collector %s failed", r.name)

    def stop(self) -> None:
        self.stop_event.set()
        threads = [threading.Thread(target=r.stop, daemon=True) for r in self.runners]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 1.0
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def refresh_all_once(self) -> dict[str, bool]:
        """Refresh every collector once, in parallel; used by the ``once`` command."""
        results: dict[str, bool] = {}

        def run(r: Runner) -> None:
            results[r.name] = r.refresh_once()

        threads = [threading.Thread(target=run, args=(r,), daemon=True) for r in self.runners]
        for r in self.runners:
            r.state.collector.start()
        for t in threads:
            t.start()
        for r, t in zip(self.runners, threads, strict=True):
            settings = r.state.collector.settings
            t.join(float(settings.timeout or max(settings.interval, 10.0)))
            if t.is_alive():
                results[r.name] = False
                with r.lock:
                    r.state.errors += 1
                    r.state.last_error = "refresh timed out"
                log.error("collector %s failed: refresh timed out", r.name)
        return results

    def health(self) -> dict[str, dict[str, object]]:
        now = time.monotonic()
        out: dict[str, dict[str, object]] = {}
        for r in self.runners:
            with r.lock:
                st = r.state
                out[r.name] = {
                    "up": self._is_up(st, now, r.thread_alive),
                    "last_success": st.last_success,
                    "errors": st.errors,
                    "last_error": st.last_error,
                }
        return out

    @staticmethod
    def _is_up(st: CollectorState, now: float, alive: bool = True) -> bool:
        settings = st.collector.settings
        timeout = float(settings.timeout or settings.interval)
        overdue = st.running_since is not None and now - st.running_since > timeout
        return st.up and not overdue and alive

    def collect(self) -> Iterable[Metric]:
        now = time.monotonic()
        own = Snapshot(RUNTIME_METRICS)
        for spec in RUNTIME_METRICS:  # every family, with or without collectors, in this order
            own.declare(spec.name)
        families: list[Metric] = []
        for r in self.runners:
            with r.lock:
                st = r.state
                own.add(COLLECTOR_UP.name, 1.0 if self._is_up(st, now, r.thread_alive) else 0.0, collector=r.name)
                own.add(COLLECTOR_DURATION.name, st.duration, collector=r.name)
                own.add(COLLECTOR_LAST_SUCCESS.name, st.last_success, collector=r.name)
                own.add(COLLECTOR_ERRORS.name, st.errors, collector=r.name)
                own.add(COLLECTOR_INTERVAL.name, float(st.collector.settings.interval), collector=r.name)
                families.extend(st.snapshot)
        own.add_info(BUILD_INFO.name, {}, version=__version__)
        yield from own.families()
        yield from _merge(families)


def _merge(families: list[Metric]) -> list[Metric]:
    """Two collectors may publish the same family (one per source); expose it once."""
    merged: dict[str, Metric] = {}
    for fam in families:
        if fam.name in merged:
            merged[fam.name].samples.extend(fam.samples)
        else:
            copy = Metric(fam.name, fam.documentation, fam.type, fam.unit)
            copy.samples = list(fam.samples)
            merged[fam.name] = copy
    return list(merged.values())

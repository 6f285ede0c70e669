"""The runtime: schedules every collector in its own thread and keeps its last snapshot.

Reads: the collectors' ``refresh`` results.
Publishes, for every collector (label ``collector``):
``exporter_collector_up``, ``exporter_collector_duration_seconds``,
``exporter_collector_last_success_timestamp_seconds``, ``exporter_collector_errors_total``,
plus ``exporter_build_info``. ``/metrics`` only ever reads snapshots under a lock, so a hung
source never delays a scrape: a refresh running longer than its timeout is reported as ``up`` 0.

When a refresh fails the collector's gauges are dropped (a dead source must not look healthy) and
its counters and histograms are kept from the last good snapshot, so ``rate()`` sees no reset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector as PromCollector

from exporters import __version__, source_errors
from exporters.collector import Collector, MetricSpec, Snapshot, counter, gauge, info

log = logging.getLogger("exporters.runtime")

RUNTIME_METRICS: tuple[MetricSpec, ...] = (
    gauge("exporter_collector_up", "1 if the collector's last refresh succeeded and none is overdue.", "collector"),
    gauge("exporter_collector_duration_seconds", "Duration of the collector's last refresh.", "collector"),
    gauge(
        "exporter_collector_last_success_timestamp_seconds",
        "Unix time of the collector's last successful refresh (0 if none yet).",
        "collector",
    ),
    counter("exporter_collector_errors_total", "Refreshes of the collector that failed.", "collector"),
    gauge("exporter_collector_interval_seconds", "Configured refresh interval of the collector.", "collector"),
    info("exporter_build_info", "Version of the exporter.", "version"),
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
    """Runs one collector: a background thread refreshing on its interval."""

    def __init__(self, collector: Collector, stop: threading.Event):
        self.state = CollectorState(collector)
        self.lock = threading.Lock()
        self._stop = stop
        self._thread = threading.Thread(target=self._loop, name=f"collector-{collector.name}", daemon=True)

    @property
    def name(self) -> str:
        return self.state.collector.name

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

    def start(self) -> None:
        self.state.collector.start()
        self._thread.start()

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

    def start(self) -> None:
        for r in self.runners:
            r.start()

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
                    "up": self._is_up(st, now),
                    "last_success": st.last_success,
                    "errors": st.errors,
                    "last_error": st.last_error,
                }
        return out

    @staticmethod
    def _is_up(st: CollectorState, now: float) -> bool:
        settings = st.collector.settings
        timeout = float(settings.timeout or settings.interval)
        overdue = st.running_since is not None and now - st.running_since > timeout
        return st.up and not overdue

    def collect(self) -> Iterable[Metric]:
        now = time.monotonic()
        up = GaugeMetricFamily("exporter_collector_up", RUNTIME_METRICS[0].help, labels=["collector"])
        dur = GaugeMetricFamily("exporter_collector_duration_seconds", RUNTIME_METRICS[1].help, labels=["collector"])
        last = GaugeMetricFamily(
            "exporter_collector_last_success_timestamp_seconds", RUNTIME_METRICS[2].help, labels=["collector"]
        )
        errs = CounterMetricFamily("exporter_collector_errors_total", RUNTIME_METRICS[3].help, labels=["collector"])
        ival = GaugeMetricFamily("exporter_collector_interval_seconds", RUNTIME_METRICS[4].help, labels=["collector"])
        families: list[Metric] = []
        for r in self.runners:
            with r.lock:
                st = r.state
                up.add_metric([r.name], 1.0 if self._is_up(st, now) else 0.0)
                dur.add_metric([r.name], st.duration)
                last.add_metric([r.name], st.last_success)
                errs.add_metric([r.name], float(st.errors))
                ival.add_metric([r.name], float(st.collector.settings.interval))
                families.extend(st.snapshot)
        build = InfoMetricFamily("exporter_build", RUNTIME_METRICS[5].help, labels=["version"])
        build.add_metric([__version__], {})
        yield from (up, dur, last, errs, ival, build)
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

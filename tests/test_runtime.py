"""The runtime in-process: snapshots, up/duration/errors, hung sources, failure semantics."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from prometheus_client import generate_latest

from lookout.exporters.collector import Collector, Snapshot, counter, gauge
from lookout.exporters.config import CollectorSettings, Duration
from lookout.exporters.runtime import Runtime
from lookout.exporters.server import MetricsServer, make_registry
from tests.support.exporter import promtool_check_metrics, samples, value


@dataclass
class FakeSettings(CollectorSettings):
    pass


class Fake(Collector):
    name = "fake"
    Settings = FakeSettings
    metrics = (gauge("fake_value", "A value.", "kind"), counter("fake_events_total", "Events."))

    def __init__(self, settings):
        super().__init__(settings)
        self.fail = False
        self.hang = threading.Event()
        self.events = 0

    def refresh(self, snap: Snapshot) -> None:
        if self.hang.is_set():
            time.sleep(30)
        if self.fail:
            raise ConnectionError("source down: postgresql://u:hunter2@db/x")
        self.events += 1
        snap.add("fake_value", 42, kind="a")
        snap.add("fake_events_total", self.events)


def _runtime(interval=0.05, timeout=None):
    c = Fake(FakeSettings(interval=Duration(interval), timeout=timeout))
    return c, Runtime([c])


def test_snapshot_served_and_runtime_metrics():
    _c, rt = _runtime()
    assert rt.refresh_all_once() == {"fake": True}
    text = generate_latest(make_registry(rt)).decode()
    s = samples(text)
    assert value(s, "fake_value", kind="a") == 42
    assert value(s, "lookout_collector_up", collector="fake") == 1
    assert value(s, "lookout_collector_errors_total", collector="fake") == 0
    assert value(s, "lookout_collector_last_success_timestamp_seconds", collector="fake") > time.time() - 5
    assert promtool_check_metrics(text) == ""


def test_failure_drops_gauges_keeps_counters_and_redacts(caplog):
    c, rt = _runtime()
    rt.refresh_all_once()
    c.fail = True
    assert rt.refresh_all_once() == {"fake": False}
    s = samples(generate_latest(make_registry(rt)).decode())
    assert value(s, "lookout_collector_up", collector="fake") == 0
    assert value(s, "lookout_collector_errors_total", collector="fake") == 1
    assert value(s, "fake_value", kind="a") is None
    assert value(s, "fake_events_total") == 1
    c.fail = False
    rt.refresh_all_once()
    assert value(generate_latest(make_registry(rt)).decode(), "fake_events_total") == 2


def test_failure_logged_once_per_state_change(caplog):
    from lookout.exporters import secrets

    caplog.set_level("INFO")
    caplog.handler.addFilter(secrets.RedactingFilter())
    c, rt = _runtime()
    c.fail = True
    for _ in range(3):
        rt.refresh_all_once()
    c.fail = False
    rt.refresh_all_once()
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("failed" in m for m in msgs) == 1
    assert sum("recovered" in m for m in msgs) == 1
    assert not any("hunter2" in m for m in msgs)


def test_hung_source_does_not_block_metrics():
    c, rt = _runtime(interval=0.05, timeout=Duration(0.2))
    server = MetricsServer(rt, "127.0.0.1", 0)
    rt.start()
    server.start()
    try:
        time.sleep(0.2)
        c.hang.set()
        time.sleep(0.6)
        t0 = time.monotonic()
        r = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=2)
        assert time.monotonic() - t0 < 1.0
        assert value(r.text, "lookout_collector_up", collector="fake") == 0
        h = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2).json()
        assert h["status"] == "ok" and h["collectors"]["fake"]["up"] is False
    finally:
        server.stop()
        rt.stop()


class Dying(Fake):
    """Kills its own thread from inside: a BaseException escapes ``refresh`` (not a failed refresh)."""

    def __init__(self, settings):
        super().__init__(settings)
        self.kill = threading.Event()

    def refresh(self, snap: Snapshot) -> None:
        if self.kill.is_set():
            self.kill.clear()
            raise SystemExit("collector thread killed from inside")
        super().refresh(snap)


def _up_and_errors(rt):
    s = samples(generate_latest(make_registry(rt)).decode())
    return value(s, "lookout_collector_up", collector="fake"), value(s, "lookout_collector_errors_total",
                                                                       collector="fake")


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_dead_collector_thread_is_down_at_once_then_restarted(caplog, monkeypatch):
    caplog.set_level("INFO")
    monkeypatch.setattr(Runtime, "SUPERVISE_EVERY", 0.05)
    c = Dying(FakeSettings(interval=Duration(0.05)))
    rt = Runtime([c])
    runner = rt.runners[0]
    monkeypatch.setattr(runner, "RESTART_BACKOFF", 0.5)
    rt.start()
    try:
        assert _wait(lambda: _up_and_errors(rt) == (1, 0))
        first = runner._thread
        c.kill.set()
        assert _wait(lambda: not first.is_alive())
        # the moment the thread is gone: down, one error, and the reason on /healthz
        assert _up_and_errors(rt) == (0, 1)
        h = rt.health()["fake"]
        assert h["up"] is False and h["last_error"].startswith("collector thread died")
        assert value(generate_latest(make_registry(rt)).decode(), "fake_value", kind="a") is None
        # restarted after the backoff, and up again
        assert _wait(lambda: _up_and_errors(rt) == (1, 1))
        assert runner._thread is not first and runner.restarts == 1
        msgs = [r.getMessage() for r in caplog.records]
        assert any("thread died" in m and "restarting in" in m for m in msgs), msgs
        assert any("thread restarted" in m for m in msgs), msgs
    finally:
        rt.stop()


def test_thread_killed_outside_refresh_and_backoff_grows(monkeypatch):
    """An exception injected into the thread while it waits between refreshes (the scheduling, not the
    source): same handling; a second death soon after doubles the wait."""
    import ctypes

    monkeypatch.setattr(Runtime, "SUPERVISE_EVERY", 0.05)
    c = Fake(FakeSettings(interval=Duration(0.3)))
    rt = Runtime([c])
    runner = rt.runners[0]
    monkeypatch.setattr(runner, "RESTART_BACKOFF", 0.2)
    rt.start()
    try:
        for n in (1, 2):
            assert _wait(lambda n=n: _up_and_errors(rt) == (1, n - 1))
            t = runner._thread
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(OverflowError))
            assert _wait(lambda t=t: not t.is_alive())
            assert _up_and_errors(rt) == (0, n)
        assert runner._backoff == 0.4
        assert _wait(lambda: _up_and_errors(rt) == (1, 2))
        assert runner.restarts == 2
    finally:
        rt.stop()

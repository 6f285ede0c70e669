"""The ``containers`` collector against a real, private Docker engine (tests/support/dockerd.py).

Every container runs with ``network_mode: none``; the image is imported from Debian's busybox.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator

import docker
import pytest
from prometheus_client import generate_latest

from lookout.exporters import config
from lookout.exporters.collectors._docker_events import EventListener
from lookout.exporters.collectors._docker_state import identity, parse_inspect, parse_time
from lookout.exporters.collectors.containers import ContainersCollector, ContainersSettings
from lookout.exporters.config import Duration
from lookout.exporters.runtime import Runtime
from lookout.exporters.server import make_registry
from lookout.stack.procs import wait_until
from tests.support.dockerd import DockerEngine, docker_engine, get_only_proxy
from tests.support.exporter import exporter, promtool_check_metrics, samples, write_config

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
MiB = 1024 * 1024


def value(text_or_samples, metric: str, **labels: str) -> float | None:
    """Like ``tests.support.exporter.value``, whose metric parameter is called ``name``: our label."""
    ss = samples(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    return ss.get((metric, tuple(sorted(labels.items()))))


def compose(service: str, project: str = "lookout", **extra: str) -> dict[str, str]:
    return {PROJECT: project, SERVICE: service, **extra}


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    with docker_engine() as e:
        yield e


@pytest.fixture
def client(engine: DockerEngine) -> Iterator[docker.DockerClient]:
    c = engine.client()
    yield c
    for container in c.containers.list(all=True):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    c.close()


def local_metrics(collector: ContainersCollector) -> tuple[bool, str]:
    rt = Runtime([collector])
    ok = rt.refresh_all_once()["containers"]
    return ok, generate_latest(make_registry(rt)).decode()


# --- parsing, settings (no engine) -------------------------------------------------------------


def test_parse_inspect_keeps_only_bounded_labels():
    state = parse_inspect({
        "Id": "f" * 64, "Name": "/lookout-web-1", "Image": "sha256:" + "a" * 64, "RestartCount": 4,
        "Config": {"Image": "registry.example/web@sha256:" + "b" * 64, "Labels": compose("web")},
        "State": {"Status": "running", "ExitCode": 0, "OOMKilled": False, "StartedAt": "2026-01-02T03:04:05.5Z",
                  "Health": {"Status": "unhealthy"}},
    })
    assert state.identity.labels() == {"name": "lookout-web-1", "compose_project": "lookout", "compose_service": "web"}
    assert (state.running, state.health, state.restarts) == (True, "unhealthy", 4)
    assert state.started_at == pytest.approx(1767323045.5)
    never = parse_inspect({"Name": "/x", "State": {"Status": "created", "StartedAt": "0001-01-01T00:00:00Z"}})
    assert (never.running, never.health, never.started_at, never.identity.compose_project) == (False, "none", 0, "")
    paused = parse_inspect({"Name": "/p", "State": {"Status": "paused", "Running": True}})
    assert not paused.running
    assert parse_time("2026-01-02T05:04:05.000000001+02:00") == pytest.approx(1767323045.0)
    assert identity("n", None).labels()["compose_service"] == ""


def test_settings_are_validated(tmp_path):
    bad = write_config(tmp_path / "c.yaml", {"containers": {"base_url": "/var/run/docker.sock"}})
    with pytest.raises(config.ConfigError, match=r"collectors\.containers: base_url: expected one of unix://"):
        config.load(bad)
    bad = write_config(tmp_path / "c.yaml", {"containers": {"label_filters": ["=x"]}})
    with pytest.raises(config.ConfigError, match=r"label_filters\[0\]"):
        config.load(bad)


def test_unreachable_engine_is_up_0_not_a_crash(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", {"containers": {
        "base_url": f"unix://{tmp_path}/nothing.sock", "interval": "0.5s", "request_timeout": "1s"}})
    with exporter(cfg) as exp:
        s = exp.wait_for(lambda s: value(s, "lookout_collector_errors_total", collector="containers"))
        assert value(s, "lookout_collector_up", collector="containers") == 0
        assert value(s, "lookout_docker_events_connected") is None  # gauges dropped with the failed refresh
        assert promtool_check_metrics(exp.metrics()) == ""
        assert exp.proc.poll() is None
    assert "collector containers failed" in exp.log()


# --- against the engine --------------------------------------------------------------------------


def run_until_oom_killed(engine: DockerEngine, client: docker.DockerClient, attempts: int = 3) -> int:
    """Run the container "oom" until Docker flags its exit as an OOM kill; return the number of runs.

    dd allocates its 64 MiB block at once, far above the 8 MiB limit with no swap. Docker learns of the
    kill from containerd's OOM notification, which a loaded machine has been seen to lose (exit code 137,
    no flag, no oom event): that is the engine's race, not the collector's, so it is retried.
    """
    for run in range(1, attempts + 1):
        c = engine.run(client, ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1"], name="oom",
                       labels=compose("oom"), mem_limit=8 * MiB, memswap_limit=8 * MiB)
        assert c.wait(timeout=60)["StatusCode"] == 137
        c.reload()
        if c.attrs["State"]["OOMKilled"]:
            return run
        c.remove()
    raise AssertionError(f"Docker never flagged an OOM kill in {attempts} runs")


def test_states_health_restarts_oom_and_die_events(engine, client, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", {"containers": {
        "base_url": engine.url, "interval": "0.5s", "label_filters": [f"{PROJECT}=lookout"]}})
    with exporter(cfg) as exp:
        exp.wait_for(lambda s: value(s, "lookout_docker_events_connected") == 1)
        engine.run(client, ["sleep", "600"], name="web", labels=compose("web"),
                   healthcheck={"test": ["CMD", "true"], "interval": 300_000_000, "retries": 1})
        engine.run(client, ["sleep", "600"], name="sick", labels=compose("sick"),
                   healthcheck={"test": ["CMD", "false"], "interval": 300_000_000, "retries": 1})
        engine.run(client, ["sh", "-c", "sleep 0.3; exit 3"], name="crashy", labels=compose("worker"),
                   restart_policy={"Name": "always"})
        oom_runs = run_until_oom_killed(engine, client)
        engine.run(client, ["sleep", "600"], name="elsewhere", labels=compose("web", project="other"))
        engine.run(client, ["sleep", "600"], name="lookout-web-run-1a2b", labels=compose("web", **{
            "com.docker.compose.oneoff": "True"}))

        def ready(s):
            def v(metric, name, **kw):
                labels = {"name": name, "compose_project": "lookout", **kw}
                return value(s, metric, compose_service={"crashy": "worker"}.get(name, name), **labels)

            return (
                v("lookout_docker_container_running", "web") == 1
                and v("lookout_docker_container_health_status", "web", status="healthy") == 1
                and v("lookout_docker_container_health_status", "sick", status="unhealthy") == 1
                and v("lookout_docker_container_health_status", "sick", status="healthy") == 0
                and (v("lookout_docker_container_restarts", "crashy") or 0) >= 2
                and (v("lookout_docker_container_die_events_total", "crashy") or 0) >= 3
                and v("lookout_docker_container_last_exit_code", "crashy") == 3
                and v("lookout_docker_container_oom_killed", "oom") == 1
                and v("lookout_docker_container_running", "oom") == 0
                and v("lookout_docker_container_last_exit_code", "oom") == 137
                and v("lookout_docker_container_die_events_total", "oom") == oom_runs
            )

        s = exp.wait_for(ready, timeout=60)
        text = exp.metrics()
    labels = {"name": "oom", "compose_project": "lookout", "compose_service": "oom"}
    assert value(s, "lookout_docker_container_oom_events_total", **labels) >= 1
    assert value(s, "lookout_docker_container_start_time_seconds", **labels) > time.time() - 600
    assert value(s, "lookout_docker_container_health_status", name="web", compose_project="lookout",
                 compose_service="web", status="none") == 0
    names = {dict(k[1]).get("name") for k in s if k[0].startswith("lookout_docker_container_")}
    assert names == {"web", "sick", "crashy", "oom"}, "label filter and one-off exclusion"
    # a die counter never runs behind the engine's restart count (each restart follows a die)
    crashy = {"name": "crashy", "compose_project": "lookout", "compose_service": "worker"}
    died = value(s, "lookout_docker_container_die_events_total", **crashy)
    assert died >= value(s, "lookout_docker_container_restarts", **crashy)
    label_values = {v for k in s if k[0].startswith("lookout_docker_") for _, v in k[1]}
    assert not [v for v in label_values if re.search(r"[0-9a-f]{12}|sha256|busybox", v)], "no ids or images"
    assert promtool_check_metrics(text) == ""


def test_dies_between_refreshes_are_counted_and_gone_containers_forgotten(engine, client):
    """A long interval: the die counter comes from the event stream, not from comparing refreshes."""
    settings = ContainersSettings(base_url=engine.url, interval=Duration(3600), forget_after=Duration(1))
    collector = ContainersCollector(settings)
    collector.start()
    try:
        wait_until(lambda: collector._events.connected, what="event stream connected")
        for _ in range(3):
            c = engine.run(client, ["sh", "-c", "exit 7"], name="once", labels=compose("once"))
            c.wait(timeout=30)
            c.remove()
        ident = {"name": "once", "compose_project": "lookout", "compose_service": "once"}
        wait_until(lambda: value(local_metrics(collector)[1], "lookout_docker_container_die_events_total",
                                 **ident) == 3,
                   what="three die events counted")
        time.sleep(1.2)
        ok, text = local_metrics(collector)
        assert ok
        assert value(text, "lookout_docker_container_die_events_total", **ident) is None, "forgotten after forget_after"
        assert "# TYPE lookout_docker_container_die_events_total counter" in text
    finally:
        collector.stop()
    assert wait_until(lambda: not collector._events._thread.is_alive(), timeout=10, what="listener thread ended")


def test_event_stream_reopened_when_idle_without_losing_or_repeating_events(engine, client):
    seen: list[str] = []
    listener = EventListener(
        lambda: docker.APIClient(base_url=engine.url, version="auto", timeout=10),
        # the label keeps out exits of the previous tests' clean-up, replayable from the first connect's second
        {"type": ["container"], "event": ["die"], "label": ["test=idle"]},
        lambda ev: seen.append(ev["Actor"]["Attributes"]["name"]),
        idle_timeout=1.5,
    )
    listener.start()
    try:
        wait_until(lambda: listener.connected, what="connected")
        for i in range(3):
            c = engine.run(client, ["true"], name=f"idle-{i}", labels={"test": "idle"})
            c.wait(timeout=30)
            wait_until(lambda n=i: listener.connects >= n + 2, what="reconnected after the idle timeout")
        wait_until(lambda: len(seen) >= 3, what="three die events")
        time.sleep(2)  # more reconnects, each replaying from the watermark
        assert sorted(seen) == ["idle-0", "idle-1", "idle-2"]
    finally:
        listener.stop()


def test_engine_stopped_and_restarted(tmp_path):
    with docker_engine() as engine:
        client = engine.client()
        # SIGKILL: sleep as pid 1 ignores SIGTERM, and the engine's shutdown would wait 10 s for it
        engine.run(client, ["sleep", "600"], name="keeper", labels=compose("keeper"),
                   restart_policy={"Name": "always"}, stop_signal="SIGKILL")
        client.close()
        keeper = {"name": "keeper", "compose_project": "lookout", "compose_service": "keeper"}
        cfg = write_config(tmp_path / "c.yaml", {"containers": {
            "base_url": engine.url, "interval": "0.5s", "request_timeout": "2s"}})
        with exporter(cfg) as exp:
            exp.wait_for(lambda s: value(s, "lookout_docker_events_connected") == 1
                         and value(s, "lookout_docker_container_running", **keeper) == 1)
            engine.stop()
            s = exp.wait_for(lambda s: value(s, "lookout_collector_up", collector="containers") == 0, timeout=30)
            assert value(s, "lookout_docker_container_running", **keeper) is None
            dies_before = value(s, "lookout_docker_container_die_events_total", **keeper)
            assert dies_before is not None, "counters survive a failed refresh"
            assert exp.proc.poll() is None

            engine.start()
            s = exp.wait_for(lambda s: value(s, "lookout_collector_up", collector="containers") == 1
                             and value(s, "lookout_docker_events_connected") == 1
                             and value(s, "lookout_docker_container_running", **keeper) == 1, timeout=60)
            assert value(s, "lookout_docker_container_die_events_total", **keeper) >= dies_before
            client = engine.client()
            engine.run(client, ["sh", "-c", "exit 5"], name="after", labels=compose("after"))
            client.close()
            after = {"name": "after", "compose_project": "lookout", "compose_service": "after"}
            s = exp.wait_for(lambda s: value(s, "lookout_docker_container_die_events_total", **after) == 1
                             and value(s, "lookout_docker_container_last_exit_code", **after) == 5, timeout=30)
            assert promtool_check_metrics(exp.metrics()) == ""
        assert "collector containers recovered" in exp.log()


def test_stop_returns_while_the_stream_is_open(engine):
    collector = ContainersCollector(ContainersSettings(base_url=engine.url, interval=Duration(1)))
    collector.start()
    wait_until(lambda: collector._events.connected, what="connected")
    done = threading.Event()
    threading.Thread(target=lambda: (collector.stop(), done.set()), daemon=True).start()
    assert done.wait(5), "stop() must not wait for the next event"
    assert wait_until(lambda: not collector._events._thread.is_alive(), timeout=10, what="listener thread ended")


def test_works_through_a_get_only_socket_proxy(engine, client):
    """Least privilege: GET on /_ping, /version, /containers/json, /containers/{id}/json, /events only."""
    with get_only_proxy(engine) as (url, refused):
        collector = ContainersCollector(ContainersSettings(base_url=url, interval=Duration(1)))
        collector.start()
        try:
            wait_until(lambda: collector._events.connected, what="event stream through the proxy")
            engine.run(client, ["sh", "-c", "exit 4"], name="proxied", labels=compose("proxied")).wait(timeout=30)
            ident = {"name": "proxied", "compose_project": "lookout", "compose_service": "proxied"}

            def counted():
                ok, text = local_metrics(collector)
                return ok and value(text, "lookout_docker_container_die_events_total", **ident) == 1 and text

            text = wait_until(counted, what="die event counted through the proxy")
            assert value(text, "lookout_docker_container_last_exit_code", **ident) == 4
            assert value(text, "lookout_docker_container_running", **ident) == 0
        finally:
            done = threading.Event()
            threading.Thread(target=lambda: (collector.stop(), done.set()), daemon=True).start()
            assert done.wait(5), "stop() closes a TCP stream at once"
        assert refused == []
        api = docker.APIClient(base_url=url, version="auto", timeout=10)
        with pytest.raises(docker.errors.APIError, match="403"):
            api.info()  # the stand-in does filter
        api.close()
        assert [r.split("/")[-1] for r in refused] == ["info"]

"""Container health from the Docker engine API: which container is down, unhealthy, restarting or OOM-killed.

Reads: ``GET /containers/json`` and ``GET /containers/{id}/json`` every refresh, and the ``die`` and
``oom`` events of ``GET /events`` in a background thread (``_docker_events``), so that a container
dying and restarting between two refreshes is still counted. Only GET requests are made.
Publishes: ``lookout_docker_container_*`` per container (labels ``name``, ``compose_project``,
``compose_service``), and ``lookout_docker_events_connected``. The prefix keeps clear of cAdvisor's
``container_*`` names, which can be scraped alongside.

An unreachable engine fails the refresh (``lookout_collector_up`` 0); the clients are rebuilt on the
next attempt, so a restarted engine (even upgraded) is picked up. Event counters of a container are
forgotten once it has been gone (neither listed nor in an event) for ``forget_after``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.errors import NotFound

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Collector, CollectorSettings, Snapshot, counter, gauge
from lookout.exporters.collectors._docker_events import EventListener
from lookout.exporters.collectors._docker_state import HEALTH_STATUSES, Identity, identity, is_oneoff, parse_inspect

LABELS = ("name", "compose_project", "compose_service")
URL_SCHEMES = ("unix://", "tcp://", "http://", "https://")


@dataclass
class ContainersSettings(CollectorSettings):
    base_url: str = setting(
        "unix:///var/run/docker.sock",
        help="Docker engine API: `unix:///path/to/docker.sock`, or `tcp://host:port` / `http://host:port` "
        "of a socket proxy. Only GET requests are sent (see docs/containers.md).",
    )
    label_filters: list[str] = setting(
        [],
        help="Watch only containers having all these labels, each `key` or `key=value` "
        "(Docker's `label` filter), e.g. `com.docker.compose.project=lookout`. Empty: every container.",
    )
    include_stopped: bool = setting(
        True,
        help="Also report stopped containers (`lookout_docker_container_running` 0); false lists running ones only."
    )
    include_oneoff: bool = setting(
        False,
        help="Also report `docker compose run` one-off containers; off by default because each has a new "
        "random name, i.e. new series.",
    )
    request_timeout: Duration = setting(Duration(5), help="Timeout of each API request (connect and read).")
    forget_after: Duration = setting(
        Duration(3600),
        help="Drop the event counters of a container gone (not listed, no event) for this long, "
        "so removed containers do not accumulate in memory.",
    )

    def validate(self) -> None:
        if not self.base_url.startswith(URL_SCHEMES):
            raise ValueError(f"base_url: expected one of {', '.join(URL_SCHEMES)} URLs, got {self.base_url!r}")
        for i, flt in enumerate(self.label_filters):
            if not flt.split("=", 1)[0].strip():
                raise ValueError(f"label_filters[{i}]: expected key or key=value, got {flt!r}")


@dataclass
class _Track:
    """What the event stream taught us about one container name."""

    dies: int = 0
    ooms: int = 0
    exit_code: int | None = None
    seen: float = field(default_factory=time.monotonic)


class ContainersCollector(Collector[ContainersSettings]):
    name = "containers"
    Settings = ContainersSettings
    summary = (
        "State of the Docker containers on this host through the engine API (`docker` SDK): running or not, "
        "health-check status, restart count, last exit code, OOM kill, start time, and `die`/`oom` events "
        "counted from the event stream. Labels are the container name and its compose project and service, "
        "never image names, digests or ids. Needs read access to the Docker socket or, better, a socket "
        "proxy allowing only GET on containers and events: see docs/containers.md."
    )
    example = """
containers:
  base_url: unix:///var/run/docker.sock
  label_filters:
    - com.docker.compose.project=lookout
  interval: 15s
"""
    metrics = (
        gauge(
            "lookout_docker_container_running",
            "1 if the container's state is running (0 when created, restarting, paused, exited or dead).",
            *LABELS,
        ),
        gauge(
            "lookout_docker_container_health_status",
            "1 for the container's current health-check status (starting, healthy, unhealthy, or none "
            "without a health check), 0 for the others.",
            *LABELS,
            "status",
        ),
        gauge(
            "lookout_docker_container_restarts",
            "Restarts by the engine under the container's restart policy (Docker's RestartCount); "
            "a gauge because re-creating the container resets it.",
            *LABELS,
        ),
        gauge(
            "lookout_docker_container_last_exit_code",
            "Exit code of the container's last exit (from the last die event when it has restarted since; "
            "0 if it never exited).",
            *LABELS,
        ),
        gauge(
            "lookout_docker_container_oom_killed",
            "1 if Docker reports the container's last exit as killed for exceeding its memory limit.",
            *LABELS,
        ),
        gauge("lookout_docker_container_start_time_seconds", "Unix time the container last started (0: never).",
              *LABELS),
        counter(
            "lookout_docker_container_die_events_total",
            "Container exits (die events) seen on the engine's event stream since the exporter started.",
            *LABELS,
        ),
        counter(
            "lookout_docker_container_oom_events_total",
            "Out-of-memory events of the container seen on the engine's event stream since the exporter started.",
            *LABELS,
        ),
        gauge("lookout_docker_events_connected", "1 while the exporter follows the engine's event stream."),
    )

    def __init__(self, settings: ContainersSettings):
        super().__init__(settings)
        self._api: docker.APIClient | None = None
        self._lock = threading.Lock()
        self._tracks: dict[Identity, _Track] = {}
        interval = float(settings.interval)
        self._events = EventListener(
            self._new_client,
            {"type": ["container"], "event": ["die", "oom"], "label": list(settings.label_filters)},
            self._on_event,
            connect_timeout=float(settings.request_timeout),
            max_backoff=min(30.0, max(1.0, interval)),
        )

    def _new_client(self) -> docker.APIClient:
        # version "auto" asks the engine (GET /version), so a restarted or upgraded engine is renegotiated
        return docker.APIClient(base_url=self.settings.base_url, version="auto", timeout=self.settings.request_timeout)

    def start(self) -> None:
        self._events.start()

    def stop(self) -> None:
        self._events.stop()
        api, self._api = self._api, None
        if api is not None:
            api.close()

    def _on_event(self, event: dict[str, Any]) -> None:
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        if not self.settings.include_oneoff and is_oneoff(attrs):
            return
        ident = identity(attrs.get("name", ""), attrs)
        if not ident.name:
            return
        action = event.get("Action") or event.get("status")
        with self._lock:
            track = self._tracks.setdefault(ident, _Track())
            track.seen = time.monotonic()
            if action == "die":
                track.dies += 1
                code = attrs.get("exitCode", "")
                if code.lstrip("-").isdigit():
                    track.exit_code = int(code)
            elif action == "oom":
                track.ooms += 1

    def _list(self) -> list[dict[str, Any]]:
        if self._api is None:
            self._api = self._new_client()
        api = self._api
        filters = {"label": list(self.settings.label_filters)} if self.settings.label_filters else None
        found = []
        for summary in api.containers(all=self.settings.include_stopped, filters=filters):
            if not self.settings.include_oneoff and is_oneoff(summary.get("Labels")):
                continue
            try:
                found.append(api.inspect_container(summary["Id"]))
            except NotFound:
                continue  # removed between the list and the inspect
        return found

    def refresh(self, snap: Snapshot) -> None:
        try:
            containers = [parse_inspect(c) for c in self._list()]
        except Exception:
            api, self._api = self._api, None
            if api is not None:
                api.close()
            raise
        for name in ("lookout_docker_container_die_events_total", "lookout_docker_container_oom_events_total"):
            snap.declare(name)
        now = time.monotonic()
        with self._lock:
            for c in containers:
                self._tracks.setdefault(c.identity, _Track()).seen = now
            forget = float(self.settings.forget_after)
            for ident in [i for i, t in self._tracks.items() if now - t.seen > forget]:
                del self._tracks[ident]
            tracks = {i: (t.dies, t.ooms, t.exit_code) for i, t in self._tracks.items()}
        for c in sorted(containers, key=lambda c: c.identity):
            labels = c.identity.labels()
            snap.add("lookout_docker_container_running", 1 if c.running else 0, **labels)
            for status in HEALTH_STATUSES:
                snap.add("lookout_docker_container_health_status", 1 if c.health == status else 0, status=status,
                         **labels)
            snap.add("lookout_docker_container_restarts", c.restarts, **labels)
            event_exit = tracks[c.identity][2]
            # Docker zeroes ExitCode when the container starts again; the die event still has it
            exit_code = event_exit if c.running and event_exit is not None else c.exit_code
            snap.add("lookout_docker_container_last_exit_code", exit_code, **labels)
            snap.add("lookout_docker_container_oom_killed", 1 if c.oom_killed else 0, **labels)
            snap.add("lookout_docker_container_start_time_seconds", c.started_at, **labels)
        for ident, (dies, ooms, _) in sorted(tracks.items()):
            snap.add("lookout_docker_container_die_events_total", dies, **ident.labels())
            snap.add("lookout_docker_container_oom_events_total", ooms, **ident.labels())
        snap.add("lookout_docker_events_connected", 1 if self._events.connected else 0)


COLLECTOR = ContainersCollector

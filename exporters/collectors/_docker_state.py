"""Pure parsing for the ``containers`` collector: Docker's JSON in, bounded label values out.

Reads: the body of ``GET /containers/{id}/json`` (inspect) and the ``Actor.Attributes`` of a
container event. Publishes: ``ContainerState`` and ``Identity`` (container name, compose project,
compose service: the only label values the collector uses; image names, digests and ids never
leave this module).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
HEALTH_STATUSES = ("starting", "healthy", "unhealthy", "none")


@dataclass(frozen=True, order=True)
class Identity:
    """What a container is called in the metrics; stable across ``docker compose up`` re-creations."""

    name: str
    compose_project: str = ""
    compose_service: str = ""

    def labels(self) -> dict[str, str]:
        return {"name": self.name, "compose_project": self.compose_project, "compose_service": self.compose_service}


@dataclass(frozen=True)
class ContainerState:
    identity: Identity
    running: bool
    health: str  # one of HEALTH_STATUSES
    restarts: int
    exit_code: int
    oom_killed: bool
    started_at: float  # Unix time, 0 when never started


def identity(name: str, labels: dict[str, str] | None) -> Identity:
    labels = labels or {}
    return Identity(name.lstrip("/"), labels.get(COMPOSE_PROJECT, ""), labels.get(COMPOSE_SERVICE, ""))


def is_oneoff(labels: dict[str, str] | None) -> bool:
    """``docker compose run`` containers: unique random names, so excluded by default."""
    return (labels or {}).get(COMPOSE_ONEOFF, "").lower() == "true"


def parse_inspect(data: dict[str, Any]) -> ContainerState:
    state = data.get("State") or {}
    labels = (data.get("Config") or {}).get("Labels") or {}
    health = (state.get("Health") or {}).get("Status") or "none"
    if health not in HEALTH_STATUSES:
        health = "none"
    return ContainerState(
        identity=identity(data.get("Name") or "", labels),
        # a paused or restarting container does not serve: only "running" counts as running
        running=state.get("Status") == "running",
        health=health,
        restarts=int(data.get("RestartCount") or 0),
        exit_code=int(state.get("ExitCode") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        started_at=parse_time(state.get("StartedAt")),
    )


_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_time(value: str | None) -> float:
    """Docker's RFC 3339 time with nanoseconds -> Unix seconds; Go's zero time (never) -> 0."""
    if not value:
        return 0.0
    m = _TIME_RE.match(value)
    if not m:
        return 0.0
    whole, frac, zone = m.groups()
    dt = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    if dt.year < 1970:
        return 0.0
    return dt.astimezone(UTC).timestamp() + (float("0." + frac) if frac else 0.0)

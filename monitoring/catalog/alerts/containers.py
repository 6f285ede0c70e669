"""Docker containers (issue 9): restart loops, failing health checks, OOM kills.

Reads the thresholds and facts of the catalog. Publishes ``RECORDINGS`` and ``ALERTS``.
"""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.series import CTR, CTR_UNHEALTHY
from monitoring.catalog.thresholds import T_CONTAINER_RESTARTS, T_CONTAINER_TROUBLE
from monitoring.model import Alert, Case, Recording, above

RECORDINGS: list[Recording] = [
]

ALERTS: list[Alert] = [
    Alert(
        name="ContainerRestartLoop",
        group="containers",
        expr=above("increase(docker_container_die_events_total[10m])", T_CONTAINER_RESTARTS),
        severity="warning",
        summary="A container keeps exiting and restarting.",
        description="Container {{ $labels.name }} exited {{ $value | humanize }} times in 10 minutes.",
        panel=(uids.HOST, "Container exits"),
        fire=Case({f"docker_container_die_events_total{CTR}": "0+1x20"}, at="12m", value=10),
        quiet=Case({f"docker_container_die_events_total{CTR}": "0+0.19x30"}, at="25m"),
        for_="1m",
        meaning="The container's process exits repeatedly and the restart policy brings it back: a crash loop.",
        confirm="`docker logs --tail 100 NAME`; `docker inspect NAME --format '{{ .State }}'`.",
        fix="Fix the crash (config, missing secret, dependency not ready).",
    ),
    Alert(
        name="ContainerUnhealthy",
        group="containers",
        expr=above('docker_container_health_status{status="unhealthy"}', T_CONTAINER_TROUBLE),
        severity="warning",
        summary="A container fails its health check.",
        description="Container {{ $labels.name }} has been unhealthy for 3 minutes.",
        panel=(uids.HOST, "Containers unhealthy or OOM-killed"),
        fire=Case({f"docker_container_health_status{CTR_UNHEALTHY}": "1x10"}),
        quiet=Case({f"docker_container_health_status{CTR_UNHEALTHY}": "0x10"}),
        for_="3m",
        meaning="The container runs but its health check fails: dependents with `condition: service_healthy` "
        "will not start.",
        confirm="`docker inspect NAME --format '{{ json .State.Health }}'`.",
        fix="Read the health check's output, fix the service, `docker compose up -d NAME`.",
    ),
    Alert(
        name="ContainerOomKilled",
        group="containers",
        expr=above("increase(docker_container_oom_events_total[15m])", T_CONTAINER_TROUBLE),
        severity="warning",
        summary="A container was killed for exceeding its memory limit.",
        description="Container {{ $labels.name }} was OOM-killed {{ $value | humanize }} times in 15 minutes.",
        panel=(uids.HOST, "Containers unhealthy or OOM-killed"),
        fire=Case({f"docker_container_oom_events_total{CTR}": "0+1x20"}, at="17m", value=15),
        quiet=Case({f"docker_container_oom_events_total{CTR}": "5x20"}, at="17m"),
        meaning="The container's memory limit (sized for a 4 GB VPS) is too small for its load, or it leaks.",
        confirm="`docker inspect NAME --format '{{ .State.OOMKilled }}'`; `docker stats`.",
        fix="Raise the limit in compose.yaml if the host has room, or fix the leak.",
    ),
]

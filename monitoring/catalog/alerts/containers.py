"""Docker containers (issue 9): restart loops, failing health checks, OOM kills.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import CTR, CTR_UNHEALTHY
from lookout.monitoring.model import Alert, Case, Recording, above


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    return [
        Alert(
            name="ContainerRestartLoop",
            requires=("containers",),
            group="containers",
            expr=above("increase(lookout_docker_container_die_events_total[10m])", t.container_restarts_10m),
            severity="warning",
            summary="A container keeps exiting and restarting.",
            description="Container {{ $labels.name }} exited {{ $value | humanize }} times in 10 minutes.",
            panel=(uids.HOST, "Container exits"),
            value=v.count("exits in 10 min"),
            fire=Case({f"lookout_docker_container_die_events_total{CTR}": "0+1x20"}, at="12m", value=10),
            quiet=Case({f"lookout_docker_container_die_events_total{CTR}": "0+0.19x30"}, at="25m"),
            for_="1m",
            meaning="The container's process exits repeatedly and the restart policy brings it back: a crash loop.",
            confirm="`docker logs --tail 100 NAME`; `docker inspect NAME --format '{{ .State }}'`.",
            fix="Fix the crash (config, missing secret, dependency not ready).",
        ),
        Alert(
            name="ContainerUnhealthy",
            requires=("containers",),
            group="containers",
            expr=above('lookout_docker_container_health_status{status="unhealthy"}', t.containers_unhealthy_or_oom),
            severity="warning",
            summary="A container fails its health check.",
            description="Container {{ $labels.name }} has been unhealthy for 3 minutes.",
            panel=(uids.HOST, "Containers unhealthy or OOM-killed"),
            value=v.NO_VALUE,
            fire=Case({f"lookout_docker_container_health_status{CTR_UNHEALTHY}": "1x10"}),
            quiet=Case({f"lookout_docker_container_health_status{CTR_UNHEALTHY}": "0x10"}),
            for_="3m",
            meaning="The container runs but its health check fails: dependents with `condition: service_healthy` "
            "will not start.",
            confirm="`docker inspect NAME --format '{{ json .State.Health }}'`.",
            fix="Read the health check's output, fix the service, `docker compose up -d NAME`.",
        ),
        Alert(
            name="ContainerOomKilled",
            requires=("containers",),
            group="containers",
            expr=above("increase(lookout_docker_container_oom_events_total[15m])", t.containers_unhealthy_or_oom),
            severity="warning",
            summary="A container was killed for exceeding its memory limit.",
            description="Container {{ $labels.name }} was OOM-killed {{ $value | humanize }} times in 15 minutes.",
            panel=(uids.HOST, "Containers unhealthy or OOM-killed"),
            value=v.count("OOM kills in 15 min"),
            fire=Case({f"lookout_docker_container_oom_events_total{CTR}": "0+1x20"}, at="17m", value=15),
            quiet=Case({f"lookout_docker_container_oom_events_total{CTR}": "5x20"}, at="17m"),
            meaning="The container's memory limit (sized for a 4 GB VPS) is too small for its load, or it leaks.",
            confirm="`docker inspect NAME --format '{{ .State.OOMKilled }}'`; `docker stats`.",
            fix="Raise the limit in compose.yaml if the host has room, or fix the leak.",
        ),
    ]

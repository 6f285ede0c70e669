"""The catalog: every signal, threshold, SLO, alert and runbook of lookout, one module per component.

Reads: a ``Site``. Publishes ``build(site) -> Catalog``: the site's thresholds (product defaults with the
site's overrides merged over them), SLOs, recording rules, alerts, inhibitions and scrape jobs, composed
from ``lookout.monitoring.catalog.alerts.*`` the way kubernetes-mixin composes ``alerts/*.libsonnet``. Each rule
names the site features it reads (``requires``) and exists only where the site has them.
``lookout.monitoring.generate.render(site)`` turns a catalog into the dashboards, Prometheus rules and unit tests,
Alertmanager configuration and runbooks.

A threshold enters an alert only through the expression builders of ``lookout.monitoring.model`` (``above``,
``below``, ``promql``...), and the dashboards draw the same object as a line, so the board and the page
always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lookout.monitoring.catalog import routing, scrape, slos
from lookout.monitoring.catalog.alerts import (
    app,
    backups,
    capacity,
    celery,
    containers,
    credits,
    host,
    llm,
    marketplace,
    meta,
    pg_activity,
    postgres,
    redis,
    tls,
    voice,
    worker_pools,
)
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.routing import HEARTBEAT_RECEIVER, RECEIVER_OF_SEVERITY
from lookout.monitoring.catalog.thresholds import Thresholds
from lookout.monitoring.model import Alert, Recording, Slo
from lookout.monitoring.site import Site

# the order of the generated files: rules of each group in this order
COMPONENTS = (meta, voice, postgres, pg_activity, backups, credits, worker_pools, app, celery, marketplace, llm,
              capacity, host, redis, tls, containers, slos)


@dataclass(frozen=True)
class Catalog:
    """Everything the generators write for one site."""

    ctx: Ctx
    slos: list[Slo]
    recordings: list[Recording]
    alerts: list[Alert]
    inhibitions: list[dict[str, Any]]
    scrape_configs: list[dict[str, Any]]
    alerts_by_name: dict[str, Alert] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alerts_by_name", {a.name: a for a in self.alerts})

    @property
    def site(self) -> Site:
        return self.ctx.site

    @property
    def thresholds(self) -> Thresholds:
        return self.ctx.t

    def receiver(self, a: Alert) -> str:
        return HEARTBEAT_RECEIVER if a.name == "Watchdog" else RECEIVER_OF_SEVERITY[a.severity]


def build(site: Site) -> Catalog:
    k = Ctx.of(site)
    recs = [r for m in COMPONENTS for r in m.recordings(k) if k.has(*r.requires)]
    alerts = [a for m in COMPONENTS for a in m.alerts(k) if k.has(*a.requires)]
    return Catalog(k, slos.slos(k), recs, alerts, routing.inhibitions(a.name for a in alerts),
                   scrape.scrape_configs(k))


__all__ = ["COMPONENTS", "HEARTBEAT_RECEIVER", "RECEIVER_OF_SEVERITY", "Catalog", "Ctx", "build"]

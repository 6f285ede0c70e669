"""The site as the native stack runs it: the same site file, with the addresses of this machine.

Reads: a ``Site`` (``examples/demo.yaml`` by default) and where the native stack started each part.
Publishes: ``localize(site, ...)`` -> a ``Site`` whose lookout parts (Prometheus, the Alertmanagers, the
blackbox exporter, the exporters of the monitoring host) sit at the ports chosen here, whose demo services
(when the demo runs) answer on their native ports and keep their error log and release file in the demo's
run dir, whose receivers post to the stand-in pager
(``lookout.stack.receiver``) with placeholder secret files, and whose links (Grafana, runbooks, Prometheus,
Alertmanager) are this machine's loopback addresses, Grafana's played by ``lookout.stack.boards``.
Everything else (jobs, rules, thresholds, receivers' names) is the site's own; the generated files are then used
as they are (``lookout.monitoring.build``).

Test speed knobs, all given as data: exporter refresh intervals, scrape/evaluation intervals, the beat
schedule compressed by the demo's speed, and check settings (e.g. shorter credit windows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lookout.exporters.config import Duration
from lookout.monitoring.site import (
    HostExporters,
    LongTermStore,
    PagerDuty,
    Receiver,
    Receivers,
    Service,
    Site,
    Telegram,
    Webhook,
)
from lookout.monitoring.sitebind import FileRef, SecretRef

# the demo's services and the native stack's name for the port each listens on (lookout.stack.native)
DEMO_SERVICE_PORTS = {"voice-api": "demo-voice", "mcp-server": "demo-mcp", "chat-api": "demo-chat"}
CLOSED_PORT = "127.0.0.1:9"  # discard: privileged, nothing listens there


@dataclasses.dataclass
class Local:
    """Where the native stack runs each part (HOST:PORT on 127.0.0.1), and the test knobs."""

    exporters: dict[str, str]  # lookout, node, postgres, redis, nginx_log -> address (missing: not started)
    prometheus: str
    alertmanagers: tuple[str, ...]
    blackbox: str
    pager_url: str | None  # the stand-in pager; None keeps the site's receivers
    secrets_dir: Path
    grafana_url: str | None = None  # the stand-in Grafana (lookout.stack.boards): dashboard and runbook links
    demo_ports: dict[str, int] = dataclasses.field(default_factory=dict)  # demo-voice -> port ...
    demo_dir: Path | None = None  # the demo's run dir: its Gunicorn error log and REVISION file are there
    tls_port: int | None = None  # the demo chat API over HTTPS
    scrape_interval: float | None = None
    evaluation_interval: float | None = None
    exporter_intervals: dict[str, str] = dataclasses.field(default_factory=dict)
    beat_speed: float = 1.0
    # collector -> settings merged into the site's checks, providers and further `collectors:` of that name
    check_settings: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    prometheus_peers: tuple[str, ...] = ()  # the further replicas of an HA pair
    store: str | None = None  # the long-term store (HOST:PORT), when the site has one
    ruler: str | None = None  # vmalert


def with_ha(site: Site, replicas: int = 2, store: str | None = "victoriametrics") -> Site:
    """``site`` as an HA pair writing to a long-term store (``python -m lookout.stack up --ha --store KIND``): what
    examples/ha.yaml says for the demo, for a site file that does not say it itself."""
    peers = tuple(f"prometheus-{i + 1}:9090" for i in range(1, replicas))  # localize() gives the real ones
    lts = site.long_term_store or (LongTermStore(kind=store) if store else None)  # type: ignore[arg-type]
    return dataclasses.replace(site, prometheus_replicas=replicas, long_term_store=lts,
                               monitoring=dataclasses.replace(site.monitoring, prometheus_peers=peers))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _demo_service(s: Service, local: Local) -> Service:
    key = DEMO_SERVICE_PORTS.get(s.name)
    if key is None or key not in local.demo_ports:
        return s
    port = local.demo_ports[key]
    health = s.health_url
    if health:
        parts = urlsplit(health)
        health = urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))
    tls = f"127.0.0.1:{local.tls_port}" if s.name == "chat-api" and local.tls_port else s.tls_host
    error_log, release = s.error_log, s.release
    if local.demo_dir is not None:  # the demo writes them into its run dir (its default --deploy-dir)
        if error_log:
            error_log = str(local.demo_dir / Path(error_log).name)
        if release is not None and release.file:
            release = dataclasses.replace(release, file=str(local.demo_dir / Path(release.file).name))
    return dataclasses.replace(s, address="127.0.0.1", port=port, health_url=health, tls_host=tls,
                               error_log=error_log, release=release)


def _placeholder(local: Local, name: str) -> FileRef:
    local.secrets_dir.mkdir(parents=True, exist_ok=True)
    f = local.secrets_dir / name
    f.write_text("placeholder\n")
    return FileRef(str(f))


def _receiver(name: str, r: Receiver | None, local: Local) -> Receiver | None:
    if r is None or local.pager_url is None:
        return r
    base = f"{local.pager_url}/{name}"
    return Receiver(
        webhooks=tuple(Webhook(url=SecretRef(f"{base}/webhook")) for _ in r.webhooks),
        pagerduty=r.pagerduty and PagerDuty(routing_key_file=_placeholder(local, "pagerduty_routing_key"),
                                            url=f"{base}/pagerduty"),
        telegram=r.telegram and Telegram(bot_token_file=_placeholder(local, "telegram_bot_token"),
                                         chat_id=r.telegram.chat_id, api_url=f"{base}/telegram"),
        email=None,  # no SMTP stand-in: the other integrations of the receiver still deliver
    )


def localize(site: Site, local: Local, *, demo: bool) -> Site:
    mon = site.monitoring_host
    given = {k: v for k, v in local.exporters.items() if k != "lookout"}
    exporters = HostExporters(lookout=local.exporters["lookout"],
                              **{k: given.get(k, CLOSED_PORT) for k in ("node", "postgres", "redis", "nginx_log")})
    hosts = tuple(dataclasses.replace(h, exporters=exporters) if h.name == mon.name else h for h in site.hosts)
    services = tuple(_demo_service(s, local) for s in site.services) if demo else site.services

    checks_over = local.check_settings
    databases = tuple(
        dataclasses.replace(db, checks=dataclasses.replace(db.checks, **{
            name: MappingProxyType(_merge(settings, checks_over.get(name, {})))
            for name, settings in db.checks.enabled()}))
        for db in site.databases)
    redis = tuple(
        dataclasses.replace(r, celery=dataclasses.replace(r.celery, beat_schedule=MappingProxyType({
            k: Duration(float(v) / local.beat_speed) for k, v in r.celery.beat_schedule.items()})))
        if r.celery else r for r in site.redis)
    providers = dataclasses.replace(site.providers, **{
        name: dataclasses.replace(p, settings=MappingProxyType(_merge(p.settings, checks_over.get(name, {}))))
        for name, p in site.providers.items()})
    collectors = MappingProxyType({name: MappingProxyType(_merge(settings, checks_over.get(name, {})))
                                   for name, settings in site.collectors.items()})
    rc = site.alerting.receivers
    receivers = Receivers(page=_receiver("page", rc.page, local) or rc.page,
                          ticket=_receiver("ticket", rc.ticket, local) or rc.ticket,
                          heartbeat=_receiver("heartbeat", rc.heartbeat, local))
    monitoring = dataclasses.replace(
        site.monitoring, prometheus=local.prometheus, alertmanagers=local.alertmanagers, blackbox=local.blackbox,
        scrape_interval=Duration(local.scrape_interval or site.monitoring.scrape_interval),
        evaluation_interval=Duration(local.evaluation_interval or site.monitoring.evaluation_interval),
        exporter_intervals=MappingProxyType({**site.monitoring.exporter_intervals,
                                             **{k: Duration.parse(v) for k, v in local.exporter_intervals.items()}}),
        watch_containers=False,  # no Docker engine here
        prometheus_peers=local.prometheus_peers[:site.prometheus_replicas - 1])
    lts = site.long_term_store
    if lts is not None and local.store and local.ruler:
        lts = dataclasses.replace(
            lts, url=f"http://{local.store}", ruler=local.ruler,
            # the samples a replica sends are as far apart as its scrapes: dedup keeps pace with a shortened interval
            dedup_interval=Duration(local.scrape_interval) if local.scrape_interval else lts.dedup_interval,
            ruler_interval=Duration(local.evaluation_interval) if local.evaluation_interval else lts.ruler_interval)
    return dataclasses.replace(site, hosts=hosts, services=services, databases=databases, redis=redis,
                               providers=providers, monitoring=monitoring, collectors=collectors, long_term_store=lts,
                               alerting=dataclasses.replace(
                                   site.alerting, receivers=receivers,
                                   # the links in notifications open on this machine: loopback addresses
                                   grafana_url=local.grafana_url or site.alerting.grafana_url,
                                   runbook_url=None if local.grafana_url else site.alerting.runbook_url,
                                   prometheus_url=f"http://{local.prometheus}",
                                   alertmanager_url=f"http://{local.alertmanagers[0]}"))

"""Scrape jobs: every target of the site, with the ``platform``, ``host`` and ``service`` labels rules group by.

Reads: the site (``Ctx``). Publishes ``scrape_configs(k)`` (Prometheus ``scrape_configs``: lookout's own
exporter and node_exporter on every host that has them, postgres/redis exporters where a database or Redis
runs, the blackbox HTTP and TLS probes, the apps' own metrics endpoints, the Nginx access-log exporter),
``app_job(platform)`` and ``watched_jobs(k)``: the jobs ``TargetAbsent`` watches, only those the site has.
"""

from __future__ import annotations

from typing import Any

from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.site import Host, Service

BLACKBOX_HTTP_MODULE = "http_2xx"  # module names of the blackbox exporter's configuration
BLACKBOX_TLS_MODULE = "tls_connect"
SHARED = "shared"  # `platform` of what serves every platform (the host, its databases, lookout itself)


def app_job(platform: str) -> str:
    """Job of a platform's own HTTP metrics (``http_requests_total``...): ``chatcenter_api``."""
    return f"{platform}_api"


def _static(targets: list[str], platform: str, host: str, **labels: str) -> dict[str, Any]:
    return {"targets": targets, "labels": {"platform": platform, "host": host, **labels}}


def _per_host(k: Ctx, exporter: str) -> list[dict[str, Any]]:
    return [_static([addr], SHARED, h.name) for h in k.site.hosts
            for name, addr in k.site.exporters_on(h).items() if name == exporter]


def _blackbox(k: Ctx, job: str, module: str, targets: list[tuple[str, Service]]) -> dict[str, Any]:
    return {
        "job_name": job,
        "metrics_path": "/probe",
        "params": {"module": [module]},
        "static_configs": [_static([url], s.platform, s.host, service=s.name) for url, s in targets],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": k.site.monitoring.blackbox},
        ],
    }


def _app_jobs(k: Ctx) -> list[dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    for s in k.site.services:
        if s.metrics is None:
            continue
        job = jobs.setdefault(s.platform, {"job_name": app_job(s.platform), "metrics_path": s.metrics.path,
                                           "static_configs": []})
        target = f"{k.site.service_address(s)}:{s.metrics_port}"
        job["static_configs"].append(_static([target], s.platform, s.host, service=s.name))
    return list(jobs.values())


def _nginx(k: Ctx, h: Host) -> dict[str, Any] | None:
    behind = [s for s in k.site.services_on(h.name) if s.nginx_log]
    addr = k.site.exporters_on(h).get("nginx_log")
    if not behind or addr is None:
        return None
    return _static([addr], behind[0].platform, h.name, service=behind[0].name)


def scrape_configs(k: Ctx) -> list[dict[str, Any]]:
    site, mon = k.site, k.site.monitoring.host or k.site.hosts[0].name
    out: list[dict[str, Any]] = [
        {"job_name": "prometheus", "static_configs": [_static(list(site.prometheus_addresses), SHARED, mon)]},
        {"job_name": "alertmanager", "static_configs": [_static(list(site.monitoring.alertmanagers), SHARED, mon)]},
    ]
    for exporter, job in (("lookout", "lookout"), ("node", "node"), ("postgres", "postgres"), ("redis", "redis")):
        statics = _per_host(k, exporter)
        if statics:
            out.append({"job_name": job, "static_configs": statics})
    http = [(s.health_url, s) for s in site.services if s.health_url]
    if http:
        out.append(_blackbox(k, "blackbox_http", BLACKBOX_HTTP_MODULE, http))
    tls = [(s.tls_host, s) for s in site.services if s.tls_host]
    if tls:
        out.append(_blackbox(k, "blackbox_tls", BLACKBOX_TLS_MODULE, tls))
    out += _app_jobs(k)
    nginx = [c for c in (_nginx(k, h) for h in site.hosts) if c is not None]
    if nginx:
        out.append({"job_name": "nginx", "static_configs": nginx})
    return out


def watched_jobs(k: Ctx) -> list[str]:
    """Jobs whose complete absence is an alert: every job of the site but Prometheus and Alertmanager."""
    return [j["job_name"] for j in scrape_configs(k) if j["job_name"] not in ("prometheus", "alertmanager")]

"""Thresholds: the product defaults, with the site file's ``thresholds:`` override map merged over them.

Reads: a ``Site`` (its hosts' memory, its LLM budget, its latency SLO bound and its overrides). Publishes
``DEFAULTS`` (key -> unit, help, colour) and ``thresholds(site) -> Thresholds``: every threshold object an
alert expression is built with and a panel draws as a line, so the board and the page agree. A key the
catalog does not know is refused with one line naming it (``SiteError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lookout.exporters.collectors.backups import DEFAULT_EXPECTED_INTERVAL as DEFAULT_BACKUP_INTERVAL
from lookout.exporters.config import Duration
from lookout.monitoring.model import Threshold
from lookout.monitoring.site import Site, SiteError


@dataclass(frozen=True)
class Default:
    value: float | None  # None: derived from the site (see _derived)
    unit: str
    help: str
    color: str = "orange"


DEFAULTS: dict[str, Default] = {
    "voice_502_rate": Default(0.05, "reqps", "502 responses per second from nginx (Gunicorn unreachable)", "red"),
    "voice_5xx_ratio": Default(0.05, "percentunit", "share of requests behind nginx answered 5xx"),
    "chat_5xx_ratio": Default(0.05, "percentunit", "share of API requests answered 5xx (app metrics)"),
    "pg_connections_ratio": Default(0.8, "percentunit", "connections in use / max_connections"),
    "credits_unreconciled": Default(0, "short", "conversations not charged in the window"),
    "worker_restarts_10m": Default(2, "short", "worker restarts within 10 minutes"),
    "listen_queue": Default(10, "short", "connections waiting in the accept queue"),
    "app_exceptions_5m": Default(10, "short", "Python exceptions in one service's error logs within 5 minutes"),
    "pool_memory_bytes": Default(None, "bytes", "RSS of one pool's workers (default: half the smallest host's "
                                                "memory)"),
    "celery_backlog": Default(100, "short", "ready messages in one queue"),
    "celery_wait_seconds": Default(300, "s", "age of the oldest waiting message"),
    "celery_failure_ratio": Default(0.1, "percentunit", "share of task runs that fail"),
    "periodic_stale_intervals": Default(3, "short", "intervals since a periodic task last succeeded", "red"),
    "marketplace_sync_lag": Default(300, "s", "worst marketplace sync lag (10 sync intervals)"),
    "token_expiry_days": Default(14, "d", "days before an API or marketplace token expires"),
    "sla_breached": Default(0, "short", "open interactions past their SLA deadline", "red"),
    "llm_daily_budget_usd": Default(None, "currencyUSD", "LLM spend per day (default: three times the providers' "
                                                         "monthly budgets / 30)"),
    "llm_runway_days": Default(7, "d", "days of LLM spend the provider balance still covers"),
    "provider_quota_ratio": Default(0.9, "percentunit", "share of a provider quota used"),
    "disk_free_warning": Default(0.15, "percentunit", "free share of a filesystem"),
    "disk_free_critical": Default(0.05, "percentunit", "free share of a filesystem, critical", "red"),
    "memory_available": Default(0.1, "percentunit", "available share of a host's memory"),
    "load_per_cpu": Default(2, "short", "5-minute load average per vCPU"),
    "redis_memory_bytes": Default(None, "bytes", "Redis memory (default: a quarter of its host's memory)"),
    "redis_maxmemory_ratio": Default(0.9, "percentunit", "Redis memory / maxmemory"),
    "capacity_ratio": Default(1, "percentunit", "volume / scaling threshold"),
    "capacity_forecast_days": Default(14, "d", "forecast horizon for the capacity thresholds"),
    "container_restarts_10m": Default(2, "short", "container exits within 10 minutes"),
    "slo_latency_seconds": Default(None, "s", "a request slower than this is a bad event (default: the site's "
                                              "latency SLO threshold, else 0.5)"),
    "tls_expiry_days": Default(14, "d", "days before a TLS certificate expires"),
    "celery_live_workers": Default(1, "short", "live Celery workers: fewer means no task runs", "red"),
    "error_budget_remaining": Default(0, "percentunit", "share of the SLO window's error budget left", "red"),
    "llm_unpriced_calls": Default(0, "short", "LLM calls the price table cannot price"),
    "containers_unhealthy_or_oom": Default(0, "short", "unhealthy containers, OOM kills"),
    "pg_lock_wait_seconds": Default(300, "s", "time a session has waited on a lock held by another"),
    "pg_idle_in_transaction_seconds": Default(600, "s", "age of a transaction left idle (held locks, a leaked "
                                                        "pool connection)"),
    "pg_query_seconds": Default(600, "s", "run time of one query"),
    "backup_age_seconds": Default(None, "s", "age of the newest backup: one backup missed (default: the backups "
                                             "check's expected_interval + 25%)"),
    "backup_age_page_seconds": Default(None, "s", "age of the newest backup: two backups missed (default: twice the "
                                                  "expected_interval + 25%)", "red"),
    "backup_shrink_ratio": Default(0.5, "percentunit", "newest backup's size / the previous one's"),
}
BACKUP_MARGIN = 0.25  # share of the expected interval a late backup job is allowed before it counts as missed
FALLBACK_MONTHLY_LLM_USD = 10.0  # the second seed's estimate ("~$5-10" a month), when no provider has a budget


def _derived(site: Site) -> dict[str, float]:
    pool_hosts = {s.host for s in site.pools} or {h.name for h in site.hosts}
    redis_hosts = {r.host for r in site.redis} or {h.name for h in site.hosts}
    budgets = [p.monthly_budget_usd for _, p in site.providers.items() if p.monthly_budget_usd is not None]
    latency = next((s.metrics.slo.latency.threshold for s in site.services
                    if s.metrics and s.metrics.slo and s.metrics.slo.latency), 0.5)
    found = site.check("backups")
    interval = float(Duration.parse(found[1].get("expected_interval", DEFAULT_BACKUP_INTERVAL))) if found else \
        DEFAULT_BACKUP_INTERVAL
    return {
        "backup_age_seconds": interval * (1 + BACKUP_MARGIN),
        "backup_age_page_seconds": interval * (2 + BACKUP_MARGIN),
        "pool_memory_bytes": min(site.host(h).memory_bytes for h in pool_hosts) / 2,
        "redis_memory_bytes": min(site.host(h).memory_bytes for h in redis_hosts) / 4,
        "llm_daily_budget_usd": round(sum(budgets or [FALLBACK_MONTHLY_LLM_USD]) / 30 * 3, 2),
        "slo_latency_seconds": float(latency),
    }


class Thresholds:
    """The site's thresholds by key, also as attributes (``t.listen_queue``)."""

    def __init__(self, items: dict[str, Threshold]):
        self._items = items

    def __getattr__(self, key: str) -> Threshold:
        try:
            return self.__dict__["_items"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Threshold:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> list[Threshold]:
        return list(self._items.values())

    def items(self) -> list[tuple[str, Threshold]]:
        return list(self._items.items())


def thresholds(site: Site) -> Thresholds:
    unknown = sorted(set(site.thresholds) - set(DEFAULTS))
    if unknown:
        raise SiteError(f"thresholds.{unknown[0]}: unknown threshold (known: {', '.join(sorted(DEFAULTS))})")
    derived = _derived(site)
    out = {}
    for key, d in DEFAULTS.items():
        value = site.thresholds.get(key, d.value if d.value is not None else derived[key])
        out[key] = Threshold(key, value, d.unit, d.help, d.color)
    if site.has_check("capacity"):  # the capacity check's thresholds, merged over its defaults by the site
        for resource, value in site.capacity_thresholds.items():
            key = capacity_key(resource)
            out[key] = Threshold(key, value, "short", f"scaling threshold of {resource} "
                                 "(databases[].checks.capacity.thresholds)")
    return Thresholds(out)


def capacity_key(resource: str) -> str:
    return f"capacity_{resource}"

"""Thresholds: product defaults, written once; alerts format them into PromQL and panels draw them."""

from __future__ import annotations

from monitoring.catalog.facts import DEEPSEEK_MONTHLY_USD, VPS
from monitoring.model import Threshold

THRESHOLDS: dict[str, Threshold] = {}


def _t(key: str, value: float, unit: str, help: str, color: str = "red") -> Threshold:
    t = Threshold(key, value, unit, help, color)
    THRESHOLDS[key] = t
    return t


T_VOICE_502_RATE = _t("voice_502_rate", 0.05, "reqps", "502 responses per second from nginx (Gunicorn unreachable)")
T_VOICE_5XX_RATIO = _t("voice_5xx_ratio", 0.05, "percentunit", "share of voice requests answered 5xx", "orange")
T_CHAT_5XX_RATIO = _t("chat_5xx_ratio", 0.05, "percentunit", "share of chat API requests answered 5xx", "orange")
T_PG_CONN_RATIO = _t("pg_connections_ratio", 0.8, "percentunit", "connections in use / max_connections", "orange")
T_CREDITS_UNRECONCILED = _t("credits_unreconciled", 0, "short", "conversations not charged in the window",
                            "orange")
T_WORKER_RESTARTS = _t("worker_restarts_10m", 2, "short", "worker restarts within 10 minutes", "orange")
T_LISTEN_QUEUE = _t("listen_queue", 10, "short", "connections waiting in the accept queue", "orange")
T_POOL_MEMORY = _t("pool_memory_bytes", VPS.memory_bytes / 2, "bytes", "RSS of one pool's workers: half the VPS",
                   "orange")
T_CELERY_BACKLOG = _t("celery_backlog", 100, "short", "ready messages in one queue", "orange")
T_CELERY_WAIT = _t("celery_wait_seconds", 300, "s", "age of the oldest waiting message", "orange")
T_CELERY_FAILURE_RATIO = _t("celery_failure_ratio", 0.1, "percentunit", "share of task runs that fail", "orange")
T_STALE_INTERVALS = _t("periodic_stale_intervals", 3, "short", "intervals since a periodic task last succeeded")
T_SYNC_LAG = _t("marketplace_sync_lag", 300, "s", "worst marketplace sync lag (10 sync intervals)", "orange")
T_TOKEN_DAYS = _t("token_expiry_days", 14, "d", "days before an API or marketplace token expires", "orange")
T_SLA_BREACHED = _t("sla_breached", 0, "short", "open interactions past their SLA deadline")
T_LLM_DAILY_BUDGET = _t("llm_daily_budget_usd", round(DEEPSEEK_MONTHLY_USD / 30 * 3, 2), "currencyUSD",
                        "LLM spend per day: three times the seed's monthly estimate / 30", "orange")
T_LLM_RUNWAY_DAYS = _t("llm_runway_days", 7, "d", "days of LLM spend the provider balance still covers", "orange")
T_QUOTA_RATIO = _t("provider_quota_ratio", 0.9, "percentunit", "share of a provider quota used", "orange")
T_DISK_FREE_WARN = _t("disk_free_warning", 0.15, "percentunit", "free share of a filesystem (20 GB disk)",
                      "orange")
T_DISK_FREE_CRIT = _t("disk_free_critical", 0.05, "percentunit", "free share of a filesystem, critical")
T_MEM_AVAILABLE = _t("memory_available", 0.1, "percentunit", "available share of the 4 GB of memory", "orange")
T_LOAD_PER_CPU = _t("load_per_cpu", 2, "short", "5-minute load average per vCPU (2 vCPU)", "orange")
T_REDIS_MEMORY = _t("redis_memory_bytes", VPS.memory_bytes / 4, "bytes", "Redis memory: a quarter of the VPS",
                    "orange")
T_REDIS_MAXMEMORY_RATIO = _t("redis_maxmemory_ratio", 0.9, "percentunit", "Redis memory / maxmemory", "orange")
T_CAPACITY_RATIO = _t("capacity_ratio", 1, "percentunit", "volume / scaling threshold (the seed's limits)",
                      "orange")
T_FORECAST_DAYS = _t("capacity_forecast_days", 14, "d", "forecast horizon for the capacity thresholds", "orange")
T_CONTAINER_RESTARTS = _t("container_restarts_10m", 2, "short", "container exits within 10 minutes", "orange")
T_SLO_LATENCY = _t("slo_latency_seconds", 0.5, "s", "a chat API request slower than this is a bad event", "orange")
T_TLS_DAYS = _t("tls_expiry_days", 14, "d", "days before a TLS certificate expires", "orange")
T_CELERY_MIN_WORKERS = _t("celery_live_workers", 1, "short", "live Celery workers: fewer means no task runs")
T_ERROR_BUDGET_LEFT = _t("error_budget_remaining", 0, "percentunit", "share of the 30-day error budget left")
T_UNPRICED_CALLS = _t("llm_unpriced_calls", 0, "short", "LLM calls the price table cannot price", "orange")
T_CONTAINER_TROUBLE = _t("containers_unhealthy_or_oom", 0, "short", "unhealthy containers, OOM kills",
                         "orange")


"""The catalog: every signal, threshold, SLO, alert and runbook of lookout, one module per component.

Reads nothing. Publishes, composed from ``monitoring.catalog.alerts.*`` (the way kubernetes-mixin composes
``alerts/*.libsonnet``): ``THRESHOLDS``, ``SLOS``, ``RECORDINGS``, ``ALERTS``, ``INHIBITIONS`` and the
routing. ``python -m monitoring generate`` turns it into the dashboards, Prometheus rules and unit tests,
Alertmanager configuration and ``docs/runbooks.md``.

A threshold enters an alert only through the expression builders of ``monitoring.model`` (``above``,
``below``, ``promql``...), and the dashboards draw the same object as a line, so the board and the page
always agree.
"""

from __future__ import annotations

from monitoring.catalog import facts, slos
from monitoring.catalog.alerts import (
    capacity,
    celery,
    containers,
    credits,
    host,
    llm,
    marketplace,
    meta,
    postgres,
    redis,
    tls,
    voice,
    worker_pools,
)
from monitoring.catalog.facts import (
    ALERT_RELAY_URL,
    ALERTMANAGERS,
    BLACKBOX_HTTP_MODULE,
    BLACKBOX_HTTP_TARGETS,
    BLACKBOX_TLS_MODULE,
    BLACKBOX_TLS_TARGETS,
    CAPACITY,
    CREDIT_SECONDS,
    DATASOURCE_UID,
    DEEPSEEK_MONTHLY_USD,
    GRAFANA_URL,
    HOST,
    JOBS,
    PAGERDUTY_ROUTING_KEY_FILE,
    PERIODIC_TASKS,
    POOLS,
    RUNBOOK_URL,
    TELEGRAM_BOT_TOKEN_PLACEHOLDER,
    TELEGRAM_CHAT_ID_PLACEHOLDER,
    VPS,
    GiB,
)
from monitoring.catalog.routing import HEARTBEAT_RECEIVER, INHIBITIONS, RECEIVER_OF_SEVERITY
from monitoring.catalog.slos import BURN_RATES, SLO_WINDOWS, SLOS
from monitoring.catalog.thresholds import THRESHOLDS
from monitoring.model import Alert, Recording

# the order of the generated files: recordings and alerts of each group in this order
COMPONENTS = (meta, voice, postgres, credits, worker_pools, celery, marketplace, llm, capacity, host, redis, tls,
              containers, slos)
RECORDINGS: list[Recording] = [
    r for m in (voice, postgres, worker_pools, celery, llm, capacity, host, slos) for r in m.RECORDINGS]
ALERTS: list[Alert] = [a for m in COMPONENTS for a in m.ALERTS]
ALERTS_BY_NAME: dict[str, Alert] = {a.name: a for a in ALERTS}

__all__ = [
    "ALERTMANAGERS", "ALERTS", "ALERTS_BY_NAME", "ALERT_RELAY_URL", "BLACKBOX_HTTP_MODULE", "BLACKBOX_HTTP_TARGETS",
    "BLACKBOX_TLS_MODULE", "BLACKBOX_TLS_TARGETS", "BURN_RATES", "CAPACITY", "CREDIT_SECONDS", "DATASOURCE_UID",
    "DEEPSEEK_MONTHLY_USD", "GRAFANA_URL", "HEARTBEAT_RECEIVER", "HOST", "INHIBITIONS", "JOBS",
    "PAGERDUTY_ROUTING_KEY_FILE", "PERIODIC_TASKS", "POOLS", "RECEIVER_OF_SEVERITY", "RECORDINGS", "RUNBOOK_URL",
    "SLOS", "SLO_WINDOWS", "TELEGRAM_BOT_TOKEN_PLACEHOLDER", "TELEGRAM_CHAT_ID_PLACEHOLDER", "THRESHOLDS", "VPS",
    "GiB", "facts",
]

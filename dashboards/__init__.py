"""Grafana dashboards as grafanalib code, one module per dashboard; ``BOARDS`` lists them in order.

Each module defines ``DASHBOARD`` (a grafanalib ``Dashboard`` and its panels, built by ``dashboards._lib``)
from the thresholds of ``monitoring.catalog``. ``python -m monitoring generate`` writes the JSON to
``dashboards/json/<uid>.json`` for Grafana's file provisioning.
"""

from __future__ import annotations

import importlib

MODULES = ("overview", "worker_pools", "celery", "billing", "llm", "marketplace_sla", "capacity", "http_slo",
           "host")


def boards() -> list[tuple[object, list[object]]]:
    return [importlib.import_module(f"dashboards.{m}").DASHBOARD for m in MODULES]

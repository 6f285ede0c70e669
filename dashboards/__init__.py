"""Grafana dashboards as grafana-foundation-sdk code, one module per dashboard; ``MODULES`` lists them in order
and ``boards(k)`` builds those a site has.

Each module defines ``build(k)``: the board for a site (``lookout.monitoring.catalog.context.Ctx``), with the panels
the site has and the site's thresholds as lines, or None when the site has nothing it shows.
``lookout.monitoring.generate.render(site)`` writes the JSON to ``dashboards/json/<uid>.json`` for Grafana's file
provisioning.
"""

from __future__ import annotations

import importlib

from lookout.dashboards._lib import Board
from lookout.monitoring.catalog.context import Ctx

MODULES = ("overview", "worker_pools", "celery", "billing", "llm", "marketplace_sla", "capacity", "http_slo",
           "host", "db_ops")


def boards(k: Ctx) -> list[Board]:
    out = []
    for m in MODULES:
        b = importlib.import_module(f"lookout.dashboards.{m}").build(k)
        if b is not None:
            out.append(b)
    return out

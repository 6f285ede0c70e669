"""The seeds' facts the demo plays (beat schedule, scaling thresholds), read from the demo's site file.

Reads: ``examples/demo.yaml`` (``redis[].celery.beat_schedule`` and ``databases[].checks.capacity.thresholds``),
the file the demo's monitoring is generated from, so the demo and its monitoring cannot disagree.
Publishes: ``task_intervals()`` (seconds per periodic task), ``capacity_thresholds()`` and ``backup_interval()``
(``databases[].checks.backups.expected_interval``: how often the demo's backup job runs).

A plain YAML read, not ``lookout.monitoring.site.load_site``: every demo process (Gunicorn, Uvicorn and Celery
workers) imports this, and the full site model costs half a second and hundreds of modules there.
``tests/test_monitoring.py`` checks that both readings agree.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from lookout.exporters.binding import Duration

# the checkout's file; an installed demo (the Docker image) is told where its copy is
SITE_FILE = Path(os.environ.get("DEMO_SITE_FILE") or Path(__file__).resolve().parents[1] / "examples" / "demo.yaml")


@functools.cache
def _site() -> dict[str, Any]:
    return yaml.safe_load(SITE_FILE.read_text())


def task_intervals() -> dict[str, float]:
    return {name: float(Duration.parse(every))
            for r in _site().get("redis", [])
            for name, every in ((r.get("celery") or {}).get("beat_schedule") or {}).items()}


def capacity_thresholds() -> dict[str, float]:
    return {resource: float(v)
            for d in _site().get("databases", [])
            for resource, v in (((d.get("checks") or {}).get("capacity") or {}).get("thresholds") or {}).items()}


def backup_interval() -> float:
    """Seconds between the demo's backups: the backups check's expected interval (a day when none)."""
    found = [((d.get("checks") or {}).get("backups") or {}).get("expected_interval")
             for d in _site().get("databases", [])]
    every = next((x for x in found if x), None)
    return float(Duration.parse(every)) if every else 86400.0

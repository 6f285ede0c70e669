"""Registry of collectors: one module per collector, named after it (``worker_pools.py`` is the
``worker_pools`` collector), defining ``COLLECTOR = <its Collector subclass>``. Modules whose name
starts with ``_`` are helpers, not collectors.

Modules are found without importing them; a module is imported when its name appears in the
configuration (a disabled collector's too, so that its keys are checked against its settings class, while its
values, variables and secret files are not read).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from lookout.exporters.collector import Collector, CollectorSettings

REGISTRY: tuple[str, ...] = tuple(
    sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
)


def collector_class(name: str) -> type[Collector]:
    cls = importlib.import_module(f"lookout.exporters.collectors.{name}").COLLECTOR
    assert cls.name == name, f"{name}.COLLECTOR.name is {cls.name}"
    return cls


def settings_class(name: str) -> type[CollectorSettings]:
    return collector_class(name).Settings


def all_classes() -> list[type[Collector]]:
    return [collector_class(n) for n in REGISTRY]

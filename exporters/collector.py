"""The collector contract: what a collector declares and how it hands over a snapshot.

A collector reads one source and fills a ``Snapshot``; it never times itself, catches its own
errors for reporting or talks HTTP: the runtime (``lookout.exporters.runtime``) does that.

Publishes: ``MetricSpec`` (a metric's declaration, also the source of ``docs/metrics.md``),
``Snapshot`` (a builder of metric families checked against the declarations) and ``Collector``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Literal, TypeVar

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from lookout.exporters.binding import Duration, setting


@dataclass
class CollectorSettings:
    """Keys every collector accepts."""

    interval: Duration = setting(Duration(15), help="How often the collector refreshes in the background.")
    timeout: Duration | None = setting(
        None,
        help="A refresh running longer than this is reported as failed (`lookout_collector_up` 0) "
        "while it is still running. Default: the interval.",
    )
    enabled: bool = setting(True, help="Set to false to keep the settings but not run the collector.")


MetricType = Literal["gauge", "counter", "histogram", "info"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()


def gauge(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "gauge", help, labels)


def counter(name: str, help: str, *labels: str) -> MetricSpec:
    if not name.endswith("_total"):
        raise ValueError(f"counter {name} must end in _total")
    return MetricSpec(name, "counter", help, labels)


def histogram(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "histogram", help, labels)


def info(name: str, help: str, *labels: str) -> MetricSpec:
    if not name.endswith("_info"):
        raise ValueError(f"info metric {name} must end in _info")
    return MetricSpec(name, "info", help, labels)


class Snapshot:
    """Metric families built by one refresh. Only declared metrics and label sets are accepted."""

    def __init__(self, specs: Iterable[MetricSpec]):
        self._specs = {s.name: s for s in specs}
        self._families: dict[str, Metric] = {}

    def _family(self, name: str) -> tuple[MetricSpec, Metric]:
        spec = self._specs.get(name)
        if spec is None:
            raise KeyError(f"metric {name} is not declared by this collector")
        fam = self._families.get(name)
        if fam is None:
            labels = list(spec.labels)
            if spec.type == "gauge":
                fam = GaugeMetricFamily(name, spec.help, labels=labels)
            elif spec.type == "counter":
                fam = CounterMetricFamily(name, spec.help, labels=labels)
            elif spec.type == "histogram":
                fam = HistogramMetricFamily(name, spec.help, labels=labels)
            else:
                fam = InfoMetricFamily(name.removesuffix("_info"), spec.help, labels=labels)
            self._families[name] = fam
        return spec, fam

    def _label_values(self, spec: MetricSpec, labels: dict[str, str]) -> list[str]:
        if set(labels) != set(spec.labels):
            raise ValueError(f"{spec.name}: labels {sorted(labels)} differ from declared {list(spec.labels)}")
        return [str(labels[k]) for k in spec.labels]

    def declare(self, name: str) -> None:
        """Make the family appear (with HELP/TYPE) even if it has no sample this time."""
        self._family(name)

    def add(self, name: str, /, value: float, **labels: str) -> None:  # `/`: a label may be called `name`
        spec, fam = self._family(name)
        if spec.type not in ("gauge", "counter"):
            raise TypeError(f"{name} is a {spec.type}; use the matching method")
        if value is None or (isinstance(value, float) and math.isnan(value) and spec.type == "counter"):
            raise ValueError(f"{name}: counters need a number")
        fam.add_metric(self._label_values(spec, labels), float(value))

    def add_info(self, name: str, values: dict[str, str], **labels: str) -> None:
        spec, fam = self._family(name)
        fam.add_metric(self._label_values(spec, labels), {k: str(v) for k, v in values.items()})

    def add_histogram(
        self, name: str, /, buckets: Sequence[tuple[float, float]], sum_value: float, **labels: str
    ) -> None:
        """``buckets`` are cumulative ``(upper_bound, count)`` pairs ending with ``+Inf``."""
        spec, fam = self._family(name)
        if spec.type != "histogram":
            raise TypeError(f"{name} is a {spec.type}")
        prom_buckets = [("+Inf" if math.isinf(le) else _fmt(le), count) for le, count in buckets]
        fam.add_metric(self._label_values(spec, labels), prom_buckets, sum_value)

    def families(self) -> list[Metric]:
        return list(self._families.values())


def _fmt(v: float) -> str:
    return repr(float(v))


SettingsT = TypeVar("SettingsT", bound=CollectorSettings)


class Collector(Generic[SettingsT]):
    """Base class. Subclasses set ``name``, ``Settings``, ``metrics`` and implement ``refresh``.

    ``Collector[MySettings]`` types ``self.settings`` as ``MySettings`` (``Settings`` names the same class
    for the loader, which needs it at run time).

    ``refresh`` runs in the collector's own background thread. It reads the source, fills the
    snapshot and raises on failure; the runtime records duration, success and errors. Counters
    kept by the collector live on ``self`` so they survive failed refreshes.
    ``start``/``stop`` are for collectors that also run a listener thread (event streams).
    """

    name: ClassVar[str]
    Settings: ClassVar[type[CollectorSettings]] = CollectorSettings
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    summary: ClassVar[str] = ""
    example: ClassVar[str] = ""  # YAML under ``collectors:``, shown in docs/configuration.md

    def __init__(self, settings: SettingsT):
        self.settings: SettingsT = settings

    def start(self) -> None:
        """Start helper threads (event listeners). Called once before the first refresh."""

    def refresh(self, snap: Snapshot) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Release connections and stop helper threads. Must return quickly."""

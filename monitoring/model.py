"""The vocabulary of the catalog: thresholds, alerts, recording rules, SLOs and their test cases.

Reads nothing. Publishes the dataclasses ``Threshold``, ``Case``, ``Alert``, ``Recording``, ``Slo`` and
``FaultExpectation`` that ``lookout.monitoring.catalog`` fills in and the generators read, and the expression
builders ``above``, ``below``, ``at_least``, ``at_most`` and ``promql``: the only way a threshold enters
an alert, so an alert's thresholds are exactly those its expression was built with.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Threshold:
    """A number written once: rendered into alert expressions and drawn as a line on panels."""

    key: str
    value: float
    unit: str  # Grafana unit of the panels that draw it
    help: str
    color: str = "red"

    def __str__(self) -> str:  # the PromQL literal
        v = float(self.value)
        return str(int(v)) if v.is_integer() else repr(v)


class Expr(str):
    """PromQL text that remembers the thresholds written into it."""

    thresholds: tuple[Threshold, ...]

    def __new__(cls, text: str, thresholds: tuple[Threshold, ...] = ()) -> Expr:
        out = super().__new__(cls, text)
        out.thresholds = thresholds
        return out


def _compare(expr: str, op: str, t: Threshold) -> Expr:
    return Expr(f"{expr} {op} {t}", (t,))


def above(expr: str, t: Threshold) -> Expr:
    return _compare(expr, ">", t)


def below(expr: str, t: Threshold) -> Expr:
    return _compare(expr, "<", t)


def at_least(expr: str, t: Threshold) -> Expr:
    return _compare(expr, ">=", t)


def at_most(expr: str, t: Threshold) -> Expr:
    return _compare(expr, "<=", t)


def promql(template: str, **thresholds: Threshold) -> Expr:
    """``template`` with ``{name}`` fields filled by thresholds; every threshold given must be used."""
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    unused = set(thresholds) - fields
    if unused:
        raise ValueError(f"thresholds {sorted(unused)} are not used in {template!r}")
    return Expr(template.format(**thresholds), tuple(thresholds[k] for k in sorted(fields)))


@dataclass(frozen=True)
class Case:
    """One ``promtool test rules`` scenario: input series, when to evaluate, what to expect.

    For an alert, ``labels`` are the expected alert labels besides ``alertname`` and ``severity``
    (``None``: the labels of the only input series, minus ``__name__``) and ``value`` is the ``$value``
    used to render the expected description. An empty ``samples`` list on a recording case is invalid.
    """

    series: dict[str, str]
    at: str = "10m"
    labels: dict[str, str] | None = None
    value: float = 0.0
    interval: str = "1m"
    samples: tuple[tuple[str, float], ...] = ()  # recording rules: (series, value) expected at ``at``


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One alert with its tests and runbook. ``thresholds`` come from ``expr`` when it was built with
    ``above``/``below``/``promql``; they cannot be declared apart from it."""

    name: str
    group: str
    expr: str
    severity: str
    summary: str  # one static sentence
    description: str  # Go template: {{ $labels.x }}, {{ $value | humanize* }}
    panel: tuple[str, str]  # (dashboard uid, panel title) the dashboard_url opens
    fire: Case
    quiet: Case | None  # silent at the boundary; None only for Watchdog
    meaning: str
    confirm: str
    fix: str
    for_: str = "0m"
    keep_labels: dict[str, str] = field(default_factory=dict)  # extra static labels
    requires: tuple[str, ...] = ()  # site features it reads (lookout.monitoring.catalog.context.FEATURES)
    # what notifications show as the current value, unit included: a Prometheus annotation template built with
    # the words of lookout.monitoring.values (``count("messages")``, ``ratio("free")``, ``NO_VALUE``...). Required in
    # effect: the generator refuses an alert left at None (tests/test_notification_values.py)
    value: str | None = None
    thresholds: tuple[Threshold, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", getattr(self.expr, "thresholds", ()))


@dataclass(frozen=True, kw_only=True)
class Recording:
    record: str
    group: str
    expr: str
    test: Case
    labels: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # site features it reads (lookout.monitoring.catalog.context.FEATURES)


@dataclass(frozen=True)
class Slo:
    """A Sloth-style SLO: error ratio over every window the multi-window burn-rate alerts need."""

    service: str
    name: str
    objective: float  # e.g. 0.995
    error_expr: str  # PromQL with {window}: ratio of bad events over the window
    description: str
    thresholds: tuple[Threshold, ...] = ()  # thresholds inside error_expr (its alerts use them)
    job: str = ""  # the app metrics job it reads
    excluded: tuple[str, ...] = ()  # paths left out (health checks, the metrics endpoint)
    days: int = 30  # the SLO window (error budget period)

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return {"sloth_id": self.id, "sloth_service": self.service, "sloth_slo": self.name}

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 10)


@dataclass(frozen=True)
class FaultExpectation:
    """What a demo fault must lead to: ``alert`` fires and reaches ``receiver``; ``also`` may fire too."""

    alert: str
    receiver: str
    also: tuple[str, ...] = ()

"""How an alert's value reads in a notification: the words every alert of the catalog declares its ``value``
with (``Alert.value``, shown by every receiver through the ``value`` annotation, lookout.monitoring.notifications).

Reads nothing. Publishes Prometheus annotation templates: ``count(unit)`` (``1,240 messages``), ``ratio(of)``
(``12.5% of max_connections``), ``duration(what)`` (``7m 30s waiting``), ``amount(unit, func)`` (``3.5 days``,
``1.2GiB``), ``companion(...)`` (a second value read by ``query``: ``, oldest 7m 0s``, `` of 4``), ``WHOLE``
(the value as a whole number) and ``NO_VALUE`` (the alert's state says it all).
"""

from __future__ import annotations

# Prometheus 2.42 template functions only (promtool renders them in the generated rule tests): humanize*,
# printf, reReplaceAll, query/first/value. Go's printf has no thousands separator: reReplaceAll inserts one,
# three digits a pass (three passes: up to 10^12).
_THOUSANDS = " | reReplaceAll `(\\d)(\\d{3})\\b` \"${1},${2}\"" * 3
WHOLE = '{{ $value | printf "%.0f"' + _THOUSANDS + " }}"
NO_VALUE = ""  # the alert's state is all it says (``up == 0``, a flag): no value line


def count(unit: str) -> str:
    """``1,240 messages``: a whole number of things."""
    return f"{WHOLE} {unit}"


def ratio(of: str = "") -> str:
    """``12.5%`` (``of``: what it is a share of, ``12.5% of max_connections``)."""
    return "{{ $value | humanizePercentage }}" + (f" {of}" if of else "")


def duration(what: str = "") -> str:
    """``7m 30s`` (``what``: ``old``, ``waiting``)."""
    return "{{ $value | humanizeDuration }}" + (f" {what}" if what else "")


def amount(unit: str, func: str = "humanize") -> str:
    """``3.5 days``, ``1.2 USD``, ``50m/s``: a measure kept with its significant digits."""
    sep = "" if unit.startswith("/") or func == "humanize1024" else " "
    return f"{{{{ $value | {func} }}}}{sep}{unit}"


def companion(metric: str, by: tuple[str, ...], prefix: str, fmt: str = 'printf "%.0f"', suffix: str = "") -> str:
    """A second value beside the alert's own, read from ``metric`` for the alert's ``by`` labels when the
    notification is rendered (Prometheus' ``query``); nothing when the series is missing."""
    matchers = ",".join(f"{b}=%q" for b in by)
    args = "".join(f" $labels.{b}" for b in by)
    return (f'{{{{ with query (printf "{metric}{{{matchers}}}"{args}) }}}}{prefix}'
            f"{{{{ . | first | value | {fmt} }}}}{suffix}{{{{ end }}}}")

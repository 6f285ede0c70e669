"""Renders the small subset of Prometheus' Go templates our alert descriptions use.

Reads: an annotation template, the alert's labels and ``$value``. Publishes ``render()``, used to write
the expected annotations of the generated ``promtool test rules`` cases. Supported: ``{{ $labels.x }}``
(alone or ``| urlquery``), ``{{ $value }}`` piped through ``humanize``, ``humanize1024``, ``humanizeDuration`` or
``humanizePercentage`` (ports of Prometheus' template functions); anything else raises.
"""

from __future__ import annotations

import math
import re
from urllib.parse import quote_plus

_EXPR = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _g4(v: float) -> str:
    return f"{v:.4g}"


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize1024(v: float) -> str:
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = int(v)
        s, m, h, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {h}h {m}m {s}s"
        if h:
            return f"{sign}{h}h {m}m {s}s"
        if m:
            return f"{sign}{m}m {s}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(v: float) -> str:
    return _g4(v * 100) + "%"


FUNCS = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
}


# ``{{ with query "..." }}{{ range . }}...{{ end }}{{ end }}`` (the deploy note): rendered here without a
# Prometheus, as Prometheus renders it when the query returns nothing, which is what the promtool cases and the
# sample messages have (no release series)
_QUERY_BLOCK = re.compile(r'\{\{ with query "[^"]*" \}\}\{\{ range \. \}\}.*?\{\{ end \}\}\{\{ end \}\}', re.S)


def render(template: str, labels: dict[str, str], value: float) -> str:
    template = _QUERY_BLOCK.sub("", template)

    def one(m: re.Match[str]) -> str:
        expr = m.group(1)
        parts = [p.strip() for p in expr.split("|")]
        if parts[0].startswith("$labels."):
            text = labels.get(parts[0].removeprefix("$labels."), "")
            if parts[1:] == ["urlquery"]:  # Go's url.QueryEscape
                return quote_plus(text, safe="")
            if len(parts) > 1:
                raise ValueError(f"unsupported template expression: {expr!r}")
            return text
        if parts[0] != "$value" or len(parts) != 2 or parts[1] not in FUNCS:
            raise ValueError(f"unsupported template expression: {expr!r}")
        return FUNCS[parts[1]](value)

    return _EXPR.sub(one, template)


def fields(template: str) -> list[str]:
    """The template expressions of ``template`` (a description without any is not templated)."""
    return _EXPR.findall(template)

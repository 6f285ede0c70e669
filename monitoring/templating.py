"""Renders the small subset of Prometheus' Go templates our alert descriptions use.

Reads: an annotation template, the alert's labels and ``$value``. Publishes ``render()``, used to write
the expected annotations of the generated ``promtool test rules`` cases. Supported: ``{{ $labels.x }}``
(alone or ``| urlquery``), ``{{ $value }}`` piped through ``humanize``, ``humanize1024``, ``humanizeDuration``,
``humanizePercentage`` (ports of Prometheus' template functions), ``printf "%.Nf"`` and ``reReplaceAll `re` "repl"``,
and the companion block ``lookout.monitoring.notifications.companion`` writes
(``{{ with query (printf "m{l=%q}" $labels.l) }}...{{ . | first | value | f }}...{{ end }}``), answered from
the test case's series; anything else raises.
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


# what lookout.monitoring.notifications.companion writes: one series named by the alert's labels, one formatted value
_COMPANION = re.compile(r'\{\{ with query \(printf "([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}"((?: \$labels\.\w+)*)\) \}\}'
                        r"(.*?)\{\{ \. \| first \| value \| (.*?) \}\}(.*?)\{\{ end \}\}", re.S)
_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$")


def _sample(notation: str, step: int) -> float | None:
    """The value at ``step`` of promtool's series notation (``3x10``, ``0+1x20``, ``1 2 3``), None past its end."""
    values: list[float] = []
    for token in notation.split():
        m = re.fullmatch(r"(-?[\d.e+]+?)(?:([+-][\d.e]+)?x(\d+))?", token)
        if not m:
            raise ValueError(f"unsupported series notation: {notation!r}")
        start, inc, n = float(m.group(1)), float(m.group(2) or 0), int(m.group(3) or 0)
        values.extend(start + inc * i for i in range(n + 1))
    return values[step] if step < len(values) else None


def _query(series: dict[str, str], name: str, matchers: dict[str, str], step: int) -> float | None:
    for selector, notation in series.items():
        m = _SERIES.match(selector)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_]\w*)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in matchers.items()):
            return _sample(notation, step)
    return None


def _pipe(value: float | str, funcs: list[str]) -> str:
    out: float | str = value
    for f in funcs:
        if f in FUNCS:
            out = FUNCS[f](float(out))
        elif m := re.fullmatch(r'printf "%\.(\d)f"', f):
            out = f"{float(out):.{m.group(1)}f}"
        elif m := re.fullmatch(r'reReplaceAll `([^`]*)` "([^"]*)"', f):
            out = re.sub(m.group(1), re.sub(r"\$\{(\d+)\}", r"\\g<\1>", m.group(2)), str(out))
        else:
            raise ValueError(f"unsupported template function: {f!r}")
    return str(out)


def render(template: str, labels: dict[str, str], value: float, series: dict[str, str] | None = None,
           step: int = 0) -> str:
    """``series``/``step``: the case's input series and the evaluation step, for the companion queries (none:
    they return nothing, as Prometheus' query does without the series)."""
    template = _QUERY_BLOCK.sub("", template)

    def companion(m: re.Match[str]) -> str:
        keys = re.findall(r"(\w+)=%q", m.group(2))
        names = [n.removeprefix("$labels.") for n in m.group(3).split()]
        if len(keys) != len(names):
            raise ValueError(f"unsupported companion query: {m.group(0)!r}")
        got = _query(series or {}, m.group(1), {k: labels.get(n, "") for k, n in zip(keys, names, strict=True)}, step)
        if got is None:
            return ""
        return m.group(4) + _pipe(got, [p.strip() for p in m.group(5).split("|")]) + m.group(6)

    template = _COMPANION.sub(companion, template)

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
        if parts[0] != "$value" or len(parts) < 2:
            raise ValueError(f"unsupported template expression: {expr!r}")
        return _pipe(value, parts[1:])

    return _EXPR.sub(one, template)


def fields(template: str) -> list[str]:
    """The template expressions of ``template`` (a description without any is not templated)."""
    return _EXPR.findall(template)

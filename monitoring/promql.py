"""Just enough PromQL reading for the catalog's checks: which metric names an expression uses.

Reads: PromQL text. Publishes ``metric_names()`` (selectors' metric names, minus functions, keywords,
label names inside braces or grouping clauses, strings and durations) and ``range_functions()``
(the ``rate``/``increase``/... calls with their range, to check for ``$__rate_interval``).
"""

from __future__ import annotations

import re

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan", "Inf", "NaN",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_RANGE_CALL = re.compile(r"\b(rate|irate|increase|delta|idelta|deriv)\s*\(")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("", text)
    text = _GROUPING.sub("", text)
    text = _RANGE.sub("", text)
    names = set()
    for m in _IDENT.finditer(text):
        name, call = m.group(1), m.group(2)
        if call or name in KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]?", name):
            continue
        names.add(name)
    return names


def range_functions(expr: str) -> list[tuple[str, str]]:
    """(function, range) of every rate-like call; the range is its first ``[...]`` after the call."""
    out = []
    for m in _RANGE_CALL.finditer(expr):
        depth, i = 1, m.end()
        rng = ""
        while i < len(expr) and depth:
            ch = expr[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "[" and not rng:
                rng = expr[i + 1:expr.index("]", i)]
            i += 1
        out.append((m.group(1), rng))
    return out

"""Drill-down for the on-call engineer: ``python -m exporters report credits|sla|sync --config FILE``.

Reads: the same configuration, database and (overridable) named queries as the ``credits``,
``sla`` and ``marketplace_sync`` collectors; their ``report*`` queries use the same parameters
and boundaries as the metrics, so the rows printed are the rows counted.
Publishes: a plain-text table per section on stdout (ids are fine here: this is not a metric).
Exit codes: 0 printed (with or without rows), 1 a query failed, 2 bad configuration or the
collector is not configured.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exporters import config, secrets

KINDS = {"credits": "credits", "sla": "sla", "sync": "marketplace_sync"}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="print the rows behind the credits, sla or sync metrics")
    p.add_argument("kind", choices=sorted(KINDS), help="which collector's rows to list")
    p.add_argument("--config", "-c", required=True, help="YAML configuration file")
    p.add_argument("--limit", type=int, default=100,
                   help="at most this many rows per section (default 100); a cut section says so")
    p.add_argument(
        "--at", type=_timestamp, help="evaluate as of this ISO 8601 time (default now), e.g. 2026-03-01T12:00:00Z"
    )
    p.set_defaults(func=run)


def _timestamp(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time such as 2026-03-01T12:00:00Z, got {text!r}") \
            from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, datetime):
        return (v.astimezone(UTC) if v.tzinfo else v).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, Decimal | float):
        return str(int(v)) if float(v).is_integer() else f"{float(v):.2f}"
    return " ".join(str(v).split())


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from exporters.collectors import collector_class
    from exporters.collectors._pg import QueryError

    name = KINDS[args.kind]
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"config error: {secrets.redact(str(exc))}", file=sys.stderr)
        return 2
    settings = cfg.collectors.get(name)
    if settings is None:
        print(f"config error: collectors.{name}: not configured in {args.config}", file=sys.stderr)
        return 2
    collector = collector_class(name)(settings)
    if args.at is not None:
        collector.clock = lambda: args.at  # type: ignore[attr-defined]
    limit = max(1, args.limit)
    # one row more than shown: a cut table says so instead of looking complete
    params = {**collector.params(), "limit": limit + 1}  # type: ignore[attr-defined]
    sections = collector.REPORTS  # type: ignore[attr-defined]
    try:
        results = collector.source.run(*(q for _, q in sections), params=params)  # type: ignore[attr-defined]
    except QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        collector.stop()
    out = []
    for title, query in sections:
        rows = results[query]
        if len(rows) > limit:
            rows = rows[:limit]
            count = f"first {limit} rows, more exist: raise --limit"
        else:
            count = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
        out.append(f"== {title} ({count}, query {name}.{query})\n")
        out.append(format_table(rows))
    sys.stdout.write("\n".join(out))
    return 0

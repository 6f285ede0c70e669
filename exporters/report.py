"""Drill-down for the on-call engineer: ``lookout-exporter report credits|sla|sync|blocking --config FILE``.

Reads: the same configuration, database and (overridable) named queries as the ``credits``,
``sla`` and ``marketplace_sync`` collectors; their ``report*`` queries use the same parameters
and boundaries as the metrics, so the rows printed are the rows counted.
``blocking`` reads what the ``pg_activity`` collector reads and prints the blocking tree: each blocker, then
the sessions waiting on it, indented; the first line of each query with its literals masked (never a parameter).
Publishes: a plain-text table per section on stdout (ids are fine here: this is not a metric); ``--json``
prints the same rows as JSON.
Exit codes: 0 printed (with or without rows), 1 a query failed, 2 bad configuration or the
collector is not configured.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lookout.exporters import config, secrets

KINDS = {"credits": "credits", "sla": "sla", "sync": "marketplace_sync", "blocking": "pg_activity"}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="print the rows behind the credits, sla or sync metrics, or the blocking "
                       "tree of PostgreSQL sessions")
    p.add_argument("kind", choices=sorted(KINDS), help="which collector's rows to list")
    p.add_argument("--config", "-c", required=True, help="YAML configuration file")
    p.add_argument("--limit", type=int, default=100,
                   help="at most this many rows per section (default 100); a cut section says so")
    p.add_argument(
        "--at", type=_timestamp, help="evaluate as of this ISO 8601 time (default now), e.g. 2026-03-01T12:00:00Z"
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of tables")
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
    from lookout.exporters.collectors import collector_class
    from lookout.exporters.collectors._pg import QueryError

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
    if name == "pg_activity":
        return _blocking(collector, args)
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
    if args.json:
        print(json.dumps({q: results[q] for _, q in sections}, default=_json_value, indent=2))
        return 0
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


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return _cell(v)
    if isinstance(v, Decimal):
        return float(v)
    return str(v)


def _age(v: Any) -> str:
    if v is None:
        return "-"
    s = int(float(v))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _blocking(collector: Any, args: argparse.Namespace) -> int:
    """The blocking tree of ``pg_activity``'s database server, as a table or JSON."""
    from lookout.exporters.collectors._pg import QueryError
    from lookout.exporters.collectors.pg_activity import blocking_tree, query_line

    try:
        rows = collector.blocking_rows(args.limit)
    except QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        collector.stop()
    tree = [{"depth": r["depth"], "pid": r.get("pid"), "waits_on": list(r.get("blocked_by") or []),
             "datname": r.get("datname"), "user": r.get("usename"), "application": r.get("application_name"),
             "state": r.get("state"), "xact_age_seconds": None if r.get("xact_age") is None else
             round(float(r["xact_age"]), 1), "state_age_seconds": None if r.get("state_age") is None else
             round(float(r["state_age"]), 1), "query": query_line(r.get("query"))} for r in blocking_tree(rows)]
    if args.json:
        print(json.dumps({"sessions": tree}, indent=2))
        return 0
    if not tree:
        print("no session waits on a lock held by another")
        return 0
    table = [{"pid": ("│ " * (t["depth"] - 1) + "└ " if t["depth"] else "") + str(t["pid"]),
              "database": t["datname"], "user": t["user"], "application": t["application"] or "-",
              "state": ("waiting: " if t["waits_on"] else "") + str(t["state"] or "-"),
              "xact_age": _age(t["xact_age_seconds"]), "in_state": _age(t["state_age_seconds"]),
              "query": t["query"]} for t in tree]
    blockers = sum(1 for t in tree if t["depth"] == 0)
    print(f"== blocking tree ({blockers} blocker{'s' if blockers != 1 else ''}, {len(tree) - blockers} waiting; "
          "waiters are indented under the session they wait for)")
    sys.stdout.write(format_table(table))
    return 0

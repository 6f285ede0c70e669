"""PostgreSQL sessions and locks: who waits on a lock, old transactions, long queries.

Reads (PostgreSQL 14-16, any role that sees other sessions: ``pg_monitor`` or ``pg_read_all_stats``):
``pg_stat_activity`` of client backends, joined to ``pg_database``, and ``pg_blocking_pids()`` called only for
sessions waiting on a lock (the function takes the lock manager's locks, so it is kept off idle sessions).
Publishes per database: ``lookout_pg_blocked_sessions``, ``lookout_pg_oldest_lock_wait_seconds``,
``lookout_pg_idle_in_transaction_sessions``, ``lookout_pg_oldest_transaction_age_seconds{state}`` (active, idle in
transaction) and ``lookout_pg_oldest_query_age_seconds``. Every database that accepts connections has its series
(zeros when quiet); beyond ``max_databases`` the rest are folded into ``datname="other"`` (counts summed, ages
the maximum), so totals stay exact and labels bounded.

Also the drill-down behind ``lookout-exporter report blocking`` (``blocking_tree``): blockers and their
waiters, with the first line of each query, literals masked, truncated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from lookout.exporters.binding import setting
from lookout.exporters.collector import Snapshot, gauge
from lookout.exporters.collectors._pg import PgCollector, PgSettings, number, require

STATES = ("active", "idle in transaction")
OTHER = "other"
PARAMS: dict[str, str] = {"limit": "int: most sessions the report lists"}
QUERY_DOCS: dict[str, str] = {
    "sessions": "One row per database that accepts connections: `datname`, `blocked`, `oldest_lock_wait`, "
    "`idle_in_transaction`, `oldest_active_xact`, `oldest_idle_xact`, `oldest_query` (seconds; NULL when none). "
    "Client backends only, the exporter's own session left out.",
    "report_blocking": "The sessions waiting on a lock held by another and the sessions they wait for: `pid`, "
    "`datname`, `usename`, `application_name`, `state`, `xact_age`, `state_age`, `waiting`, `blocked_by` "
    "(array of pids), `query` (text; the report keeps its first line, literals masked).",
}

QUERIES: dict[str, str] = {
    "sessions": """
SELECT d.datname,
       count(a.pid) FILTER (WHERE a.blocked) AS blocked,
       max(extract(epoch FROM now() - a.state_change)) FILTER (WHERE a.blocked) AS oldest_lock_wait,
       count(a.pid)
           FILTER (WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')) AS idle_in_transaction,
       max(extract(epoch FROM now() - a.xact_start)) FILTER (WHERE a.state = 'active') AS oldest_active_xact,
       max(extract(epoch FROM now() - a.xact_start))
           FILTER (WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')) AS oldest_idle_xact,
       max(extract(epoch FROM now() - a.query_start)) FILTER (WHERE a.state = 'active') AS oldest_query
FROM pg_database d
LEFT JOIN (
    SELECT datid, pid, state, state_change, xact_start, query_start,
           -- CASE, not AND: SQL does not promise to skip the call for sessions that wait on no lock
           CASE WHEN wait_event_type = 'Lock' THEN cardinality(pg_blocking_pids(pid)) > 0 ELSE false END
               AS blocked
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
) a ON a.datid = d.oid
WHERE d.datallowconn AND NOT d.datistemplate
GROUP BY d.datname""",
    "report_blocking": """
WITH waiting AS (
    SELECT pid, pg_blocking_pids(pid) AS blocked_by
    FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
), involved AS (
    SELECT pid FROM waiting WHERE cardinality(blocked_by) > 0
    UNION
    SELECT unnest(blocked_by) FROM waiting
)
SELECT a.pid, a.datname, a.usename, a.application_name, a.state,
       extract(epoch FROM now() - a.xact_start) AS xact_age,
       extract(epoch FROM now() - a.state_change) AS state_age,
       coalesce(cardinality(w.blocked_by) > 0, false) AS waiting,
       coalesce(w.blocked_by, '{}') AS blocked_by,
       left(a.query, 2000) AS query
FROM involved i
JOIN pg_stat_activity a ON a.pid = i.pid
LEFT JOIN waiting w ON w.pid = a.pid
ORDER BY a.xact_start NULLS LAST, a.pid
LIMIT %(limit)s""",
}
COLUMNS = ("datname", "blocked", "oldest_lock_wait", "idle_in_transaction", "oldest_active_xact",
           "oldest_idle_xact", "oldest_query")


@dataclass(kw_only=True)
class PgActivitySettings(PgSettings):
    QUERIES: ClassVar[tuple[str, ...]] = tuple(QUERIES)

    max_databases: int = setting(
        20, help="Databases published by name (those with the most blocked, then idle-in-transaction sessions "
        "first, then by name); the rest are folded into `datname=\"other\"` (counts summed, ages the oldest).",
        at_cap='exact: the other databases are folded into `datname="other"`, counts summed, ages the oldest.')

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.max_databases <= 500:
            raise ValueError("max_databases: must be between 1 and 500")


@dataclass
class DbActivity:
    blocked: float = 0.0
    oldest_lock_wait: float = 0.0
    idle_in_transaction: float = 0.0
    oldest_active_xact: float = 0.0
    oldest_idle_xact: float = 0.0
    oldest_query: float = 0.0

    def fold(self, other: DbActivity) -> None:
        """Counts add up, ages keep the oldest."""
        self.blocked += other.blocked
        self.idle_in_transaction += other.idle_in_transaction
        for name in ("oldest_lock_wait", "oldest_active_xact", "oldest_idle_xact", "oldest_query"):
            setattr(self, name, max(getattr(self, name), getattr(other, name)))


def bounded(rows: list[dict[str, Any]], limit: int) -> dict[str, DbActivity]:
    """Per database, at most ``limit`` names (busiest first, then by name) plus ``other`` for the rest."""
    def busy(r: dict[str, Any]) -> tuple[float, float, str]:
        return (-number(r["blocked"]), -number(r["idle_in_transaction"]), str(r["datname"]))

    out: dict[str, DbActivity] = {}
    for i, r in enumerate(sorted(rows, key=busy)):
        act = DbActivity(*(number(r[c]) for c in COLUMNS[1:]))
        name = str(r["datname"]) if i < limit and r["datname"] != OTHER else OTHER
        if name in out:
            out[name].fold(act)
        else:
            out[name] = act
    return out


class PgActivityCollector(PgCollector[PgActivitySettings]):
    name = "pg_activity"
    Settings = PgActivitySettings
    DEFAULT_QUERIES = QUERIES
    metrics = (
        gauge("lookout_pg_blocked_sessions", "Sessions waiting on a lock held by another session.", "datname"),
        gauge("lookout_pg_oldest_lock_wait_seconds",
              "How long the longest-waiting blocked session has waited (0: none).",
              "datname"),
        gauge("lookout_pg_idle_in_transaction_sessions",
              "Sessions idle inside an open transaction (aborted ones included).",
              "datname"),
        gauge("lookout_pg_oldest_transaction_age_seconds", "Age of the oldest open transaction, by the session's state "
              "(active, idle in transaction); 0 when there is none.", "datname", "state"),
        gauge("lookout_pg_oldest_query_age_seconds", "Run time of the longest-running active query (0: none).",
              "datname"),
    )
    summary = (
        "Who waits on whom in PostgreSQL: blocked sessions, idle-in-transaction sessions, the oldest transaction "
        "and query per database (`pg_stat_activity`, `pg_blocking_pids()`); `lookout-exporter report blocking` "
        "prints the blocking tree."
    )
    example = """
pg_activity:
  dsn: ${APP_DATABASE_URL}
  interval: 15s
  statement_timeout: 2s
"""

    def params(self) -> dict[str, Any]:
        return {}

    def refresh(self, snap: Snapshot) -> None:
        s = self.settings
        rows = self.source.run("sessions", params={})["sessions"]
        require(rows, COLUMNS, self.name, "sessions")
        for name, act in sorted(bounded(rows, s.max_databases).items()):
            snap.add("lookout_pg_blocked_sessions", act.blocked, datname=name)
            snap.add("lookout_pg_oldest_lock_wait_seconds", act.oldest_lock_wait, datname=name)
            snap.add("lookout_pg_idle_in_transaction_sessions", act.idle_in_transaction, datname=name)
            snap.add("lookout_pg_oldest_transaction_age_seconds", act.oldest_active_xact, datname=name, state=STATES[0])
            snap.add("lookout_pg_oldest_transaction_age_seconds", act.oldest_idle_xact, datname=name, state=STATES[1])
            snap.add("lookout_pg_oldest_query_age_seconds", act.oldest_query, datname=name)
        for spec in self.metrics:
            snap.declare(spec.name)

    def blocking_rows(self, limit: int) -> list[dict[str, Any]]:
        rows = self.source.run("report_blocking", params={"limit": max(1, limit)})["report_blocking"]
        require(rows, ("pid", "blocked_by", "query"), self.name, "report_blocking")
        return rows


# --- the report's tree ---------------------------------------------------------------------------
# backslash escapes taken as E-strings everywhere: at worst a standard string is masked a little too far
_STRING = re.compile(r"(?:[EeBbXxUu]&?)?'(?:[^'\\]|''|\\.)*'?", re.S)
_DOLLAR = re.compile(r"\$(\w*)\$.*?(?:\$\1\$|$)", re.S)
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
QUERY_WIDTH = 80


def query_line(text: str | None, width: int = QUERY_WIDTH) -> str:
    """The first non-empty line of a query, literals masked (`'?'`, `?`): never a parameter's value."""
    if not text:
        return ""
    masked = _DOLLAR.sub("'?'", str(text))
    masked = _STRING.sub("'?'", masked)
    masked = _NUMBER.sub("?", masked)
    first = next((ln.strip() for ln in masked.splitlines() if ln.strip()), "")
    first = " ".join(first.split())
    return first if len(first) <= width else first[: width - 1] + "…"


def blocking_tree(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in tree order with ``depth``: each blocker that waits on nobody (the root), then what waits on it,
    depth first. A session blocked by several appears under each; cycles (a deadlock being resolved) stop."""
    by_pid = {int(r["pid"]): r for r in rows}
    waiters: dict[int, list[int]] = {}
    for r in rows:
        for b in r.get("blocked_by") or ():
            waiters.setdefault(int(b), []).append(int(r["pid"]))
    roots = [p for p, r in by_pid.items() if not r.get("blocked_by")]
    roots += [p for p in waiters if p not in by_pid]  # a blocker the row limit cut off
    if not roots and by_pid:  # every session waits on another: a cycle
        roots = [min(by_pid)]
    out: list[dict[str, Any]] = []

    def walk(pid: int, depth: int, seen: frozenset[int]) -> None:
        row = by_pid.get(pid, {"pid": pid, "state": "(not listed)"})
        out.append({**row, "depth": depth})
        for w in waiters.get(pid, []):
            if w not in seen:
                walk(w, depth + 1, seen | {w})

    for root in roots:
        walk(root, 0, frozenset({root}))
    return out


COLLECTOR = PgActivityCollector

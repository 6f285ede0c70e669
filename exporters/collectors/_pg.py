"""Shared PostgreSQL access for the collectors that read a database (credits, sla, llm_spend...).

Reads: one database per collector, through a single connection that is opened lazily, reused
across refreshes and reopened after a failure (a database restart, a network cut).
Publishes: ``PgSettings`` (the keys every PostgreSQL collector accepts), ``PgSource`` (runs a named,
overridable query in a read-only transaction bounded by ``statement_timeout``) and ``QueryError``,
whose one-line message names the collector, the query and the database's message; the runtime
logs it once and sets the collector's ``up`` to 0.

Queries use psycopg named parameters (``%(now)s``); an overriding query may use any subset of the
parameters its default uses, and must write a literal percent sign as ``%%``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from lookout.exporters import conninfo, secrets, source_errors
from lookout.exporters.binding import Duration, Secret, setting
from lookout.exporters.collector import Collector, CollectorSettings
from lookout.exporters.collectors._sql import check_one_statement


@dataclass(kw_only=True)
class PgSettings(CollectorSettings):
    """Keys shared by every collector that reads PostgreSQL."""

    QUERIES: ClassVar[tuple[str, ...]] = ()  # names of the collector's overridable queries

    dsn: Secret = setting(
        help="libpq connection string or URL of the database (secret: use `${VAR}` or `dsn_file`). "
        "A read-only role is enough.",
        example="postgresql://lookout@127.0.0.1:5432/app",
    )
    statement_timeout: Duration = setting(
        Duration(5), help="Server-side limit for each query (`SET LOCAL statement_timeout`)."
    )
    connect_timeout: Duration = setting(Duration(3), help="Limit for opening the connection.")
    application_name: str = setting(
        "", help="Shown in `pg_stat_activity`. Default: `lookout-<collector>`."
    )
    prepared_statements: Literal["auto", "always", "never"] = setting(
        "auto",
        help="Whether queries run as named prepared statements (planned once per connection). `auto`: unless a "
        "pooler stands between lookout and the server (the server's process id differs from the one the connection "
        "was given at start-up: PgBouncer, pgcat), since in transaction mode it hands each transaction another "
        "server connection, where a named statement is missing or is another client's. `always` for a pooler in "
        "session mode, or one that tracks prepared statements (PgBouncer 1.21 and later with "
        "`max_prepared_statements`).",
    )
    queries: dict[str, str] = setting(
        {},
        help="Named query to replacement SQL, for schemas whose columns differ from the reference "
        "(see docs/queries.md for each query's parameters and result columns).",
    )

    def validate(self) -> None:
        if not self.dsn.strip():
            raise ValueError("dsn: must not be empty")
        unknown = sorted(set(self.queries) - set(self.QUERIES))
        if unknown:
            raise ValueError(f"queries.{unknown[0]}: unknown query (known: {', '.join(self.QUERIES)})")
        for name, sql in self.queries.items():
            check_one_statement(sql, f"queries.{name}")
        if float(self.statement_timeout) <= 0 or float(self.connect_timeout) <= 0:
            raise ValueError("statement_timeout and connect_timeout must be positive")


log = logging.getLogger("lookout.exporters.collectors.pg")


class QueryError(source_errors.SourceError):
    """A named query failed; the message is one line and carries no secret."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _one_line(text: str) -> str:
    return " ".join(secrets.redact(text).split())[:400]


class PgSource:
    """One connection, used by one collector thread (plus ``close`` from the stopping thread)."""

    def __init__(self, collector: str, settings: PgSettings, defaults: Mapping[str, str]):
        self.collector = collector
        self.settings = settings
        self.sql = {**defaults, **settings.queries}
        self.application_name = settings.application_name or f"lookout-{collector}"
        self.target = conninfo.target(settings.dsn)
        self.overridden = set(settings.queries)
        self.pooled = False  # the last connection goes through a pooler (prepared_statements: auto)
        # planner settings for this collector's queries only, set with the timeout
        self.local_settings: dict[str, str] = {}
        self._conn: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        try:
            conn = psycopg.connect(
                self.settings.dsn,
                connect_timeout=max(1, round(float(self.settings.connect_timeout))),
                application_name=self.application_name,
                row_factory=dict_row,
                autocommit=True,  # transactions are explicit: conn.transaction() below
                # a server that vanishes without a FIN must not hang the refresh forever
                keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
            )
        except psycopg.Error as exc:
            # never libpq's text: it may quote the DSN's password (an invalid %-escape, a stray quote)
            kind = source_errors.classify(exc) or "connection failed"
            raise QueryError(f"{self.collector}: cannot connect to {self.target}: {kind}") from None
        conn.read_only = True  # every transaction BEGINs READ ONLY
        mode = self.settings.prepared_statements
        if mode == "never" or (mode == "auto" and self._behind_pooler(conn)):
            conn.prepare_threshold = None  # unnamed statements only: parsed, bound and run in one round trip
        return conn

    def _behind_pooler(self, conn: Any) -> bool:
        """A proxy answers the start-up with process ids of its own; the server's own id then differs."""
        import psycopg

        try:
            row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
        except psycopg.Error as exc:
            with contextlib.suppress(Exception):
                conn.close()
            kind = source_errors.classify(exc) or "query failed"
            raise QueryError(f"{self.collector}: cannot use {self.target}: {kind}") from None
        pooled = row is not None and row["pid"] != conn.info.backend_pid
        if pooled and not self.pooled:
            log.info("%s: a pooler stands between lookout and %s (the server's process id is not the connection's): "
                     "queries run unprepared (prepared_statements: auto)", self.collector, self.target)
        self.pooled = pooled
        return pooled

    def run(self, *names: str, params: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Run the named queries in one read-only transaction; return each one's rows."""
        import psycopg

        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._close_locked()
                self._conn = self._connect()
            conn = self._conn
        from psycopg.pq import TransactionStatus

        timeout = f"{max(1, round(float(self.settings.statement_timeout) * 1000))}ms"
        cursors: list[tuple[str, Any]] = []  # (name, its cursor once sent) in the order they run
        try:
            if self.overridden.isdisjoint(names):
                return self._run_pipelined(conn, names, params, timeout, cursors)
            return self._run_one_by_one(conn, names, params, timeout, cursors)
        except QueryError:
            self.close()  # a fresh connection next time: nothing the query did to the session survives
            raise
        except psycopg.Error as exc:
            # the first query without a result is the one that failed: those after it never ran
            current = next((name for name, cur in cursors if cur is None or cur.pgresult is None), names[0])
            # a broken connection is reopened next time; a cancelled or failed query keeps it
            lost = isinstance(exc, psycopg.OperationalError) and not isinstance(
                exc, (psycopg.errors.QueryCanceled, psycopg.errors.PipelineAborted))
            if lost or conn.broken or conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
                self.close()
            diag = getattr(exc, "diag", None)
            message = (diag.message_primary if diag is not None else None) or str(exc)
            raise QueryError(f"query {self.collector}.{current} failed: {_one_line(message)}") from None

    @staticmethod
    def _set_local(conn: Any, pairs: list[tuple[str, str]]) -> None:
        """``SET LOCAL`` each (setting, value) for the current transaction, in one statement."""
        conn.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(pairs)), [x for kv in pairs for x in kv])

    def _run_pipelined(self, conn: Any, names: tuple[str, ...], params: Mapping[str, Any], timeout: str,
                       cursors: list[tuple[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """No query of this refresh is replaced: the guards and the queries sent at once, one round trip.

        They form one implicit transaction (until the pipeline's Sync), which the first statement makes read-only
        and bounds by the timeout, as ``SET LOCAL``: per transaction, not per session, so that they hold behind a
        pooler that hands each transaction another server connection (PgBouncer's transaction mode), and
        whatever an override run earlier on this connection did to the session."""
        with conn.pipeline():
            self._set_local(conn, [("transaction_read_only", "on"), ("statement_timeout", timeout),
                                   *self.local_settings.items()])
            for name in names:
                cursors.append((name, conn.execute(self.sql[name], _used(self.sql[name], params))))
        return {name: cur.fetchall() if cur.description else [] for name, cur in cursors}

    def _run_one_by_one(self, conn: Any, names: tuple[str, ...], params: Mapping[str, Any], timeout: str,
                        cursors: list[tuple[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """With an override: each query on its own, checked to have kept the read-only transaction open."""
        from psycopg.pq import TransactionStatus

        results: dict[str, list[dict[str, Any]]] = {}
        with conn.transaction():
            self._set_local(conn, [("statement_timeout", timeout), *self.local_settings.items()])
            for i, name in enumerate(names):
                cursors.append((name, None))
                if i and names[i - 1] in self.overridden:  # an override may have lifted the timeout
                    self._set_local(conn, [("statement_timeout", timeout)])
                # pipeline mode: always the extended protocol, where one query is one statement
                with conn.pipeline():
                    cursors[-1] = (name, cur := conn.execute(self.sql[name], _used(self.sql[name], params)))
                results[name] = cur.fetchall() if cur.description else []
                if conn.info.transaction_status != TransactionStatus.INTRANS:
                    # COMMIT or ROLLBACK as a query: what follows would run outside the read-only transaction
                    raise QueryError(f"query {self.collector}.{name} failed: it ended the read-only transaction")
        return results

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection may fail; it is gone anyway
                conn.close()

    def cancel_and_close(self) -> None:
        """Called from another thread on shutdown: cancel a running query, then close."""
        conn = self._conn
        if conn is not None and not conn.closed:
            with contextlib.suppress(Exception):
                conn.cancel_safe(timeout=0.5)
            with contextlib.suppress(Exception):
                conn.close()


def _used(sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the parameters the SQL names, so an override may ignore some (or all) of them."""
    return {k: v for k, v in params.items() if f"%({k})s" in sql}


PgSettingsT = TypeVar("PgSettingsT", bound=PgSettings)


class PgCollector(Collector[PgSettingsT]):
    """Base of the PostgreSQL collectors: owns the ``PgSource`` and a clock tests may replace."""

    DEFAULT_QUERIES: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: PgSettingsT):
        super().__init__(settings)
        self.source = PgSource(self.name, settings, self.DEFAULT_QUERIES)
        self.clock = utcnow

    def stop(self) -> None:
        self.source.cancel_and_close()


def number(value: Any) -> float:
    """A number from a query result (NULL is 0; numeric and intervals become float seconds)."""
    if value is None:
        return 0.0
    if hasattr(value, "total_seconds"):
        return float(value.total_seconds())
    return float(value)


def column(row: Mapping[str, Any], name: str, collector: str, query: str) -> Any:
    """A result column an (overridden) query must return; its absence is a query error."""
    if name not in row:
        raise QueryError(f"query {collector}.{query} failed: result has no column {name!r}")
    return row[name]


def require(rows: list[dict[str, Any]], names: tuple[str, ...], collector: str, query: str) -> None:
    """Check that every row of an (overridden) query has the columns the collector reads."""
    for row in rows[:1]:
        for name in names:
            column(row, name, collector, query)


QUERIES_INTRO = """\
# Named queries

<!-- Generated by `python -m lookout.exporters.docs` from the collectors' modules; do not edit by hand. -->

Every SQL statement the PostgreSQL collectors and `lookout-exporter report` run is named and can be
replaced in the configuration, so an operator whose columns differ from the reference schemas
(docs/schemas.md) adapts a query instead of forking the exporter:

```yaml
collectors:
  credits:
    dsn_file: /run/secrets/voice_dsn
    queries:
      negative_balance: |
        SELECT count(*) AS customers, COALESCE(sum(-credits_left), 0) AS credits
        FROM billing.accounts WHERE credits_left < 0
```

Rules for a replacement:

- It returns the same result columns (by name) as the default; a missing column makes the collector's
  `lookout_collector_up` 0 with one log line such as
  `query credits.negative_balance failed: result has no column 'credits'`.
- Parameters are psycopg named placeholders, `%(now)s`; a replacement may use any subset of the
  parameters listed for its collector. Write a literal percent sign as `%%`.
- It is exactly one statement: `lookout-exporter check` refuses `SELECT ...; SELECT ...` (exit 2), and every
  query is sent with the extended protocol, where PostgreSQL itself refuses a second statement.
- It runs read-only and under the collector's `statement_timeout`, in the one transaction per refresh that all
  of the collector's queries share (READ COMMITTED: each query sees what was committed when it starts), on one
  connection (`application_name` `lookout-<collector>` unless configured). A replaced query runs on its own in
  an explicit `READ ONLY` transaction with `SET LOCAL statement_timeout`: a query that ends the transaction
  (`COMMIT`, `ROLLBACK`) fails the refresh and closes the connection before anything else runs, and the
  timeout is set again after each replaced query, so no query runs without it. A refresh without a replaced
  query sends its queries together in one pipeline, one round trip, as one implicit transaction whose first
  statement sets read-only and the timeout for that transaction (`transaction_read_only`, `SET LOCAL`): never
  as session settings, which a pooler in transaction mode (PgBouncer) would leave on another connection.
- An unknown query name is a configuration error (`lookout-exporter check` exits 2).
- Tenant rule: filter and join on the tenant key (`customer_id`, `seller_id`) wherever a query touches
  tenant data, and never return a tenant id in a metric query's label columns.
- Keep it bounded: range conditions on an indexed column (`started_at >= %(now)s - %(window)s`),
  not expressions over it (`now() - started_at < ...`), so the cost does not grow with the table.

## The read-only role

The guardrails above hold whatever role connects, but give lookout a role that cannot write in the first
place, with its own limits, so that neither a mistake in an override nor a leaked DSN can change data:

```sql
-- as a superuser; set the password with psql's \\password lookout (it then never reaches a log or history)
CREATE ROLE lookout LOGIN CONNECTION LIMIT 10;
ALTER ROLE lookout SET default_transaction_read_only = on;
ALTER ROLE lookout SET statement_timeout = '10s';
ALTER ROLE lookout SET idle_in_transaction_session_timeout = '30s';
GRANT CONNECT ON DATABASE chatcenter TO lookout;
-- PostgreSQL 14 and later: read every table and view, nothing else
GRANT pg_read_all_data TO lookout;
-- before 14, per schema: existing tables, then the ones the application's role creates later
GRANT USAGE ON SCHEMA public TO lookout;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO lookout;
ALTER DEFAULT PRIVILEGES FOR ROLE app IN SCHEMA public GRANT SELECT ON TABLES TO lookout;
```

and in `pg_hba.conf` only the exporter's address, with a password: `host chatcenter lookout 127.0.0.1/32
scram-sha-256`. The DSN then comes from the environment or a file (`dsn: ${CHATCENTER_DATABASE_URL}` or
`dsn_file:`), never from the configuration itself; see docs/security.md.

## Behind a pooler

lookout works through a pooler in transaction mode (PgBouncer): read-only and the timeout are set in each
transaction, never on the session, and the queries of a refresh form one transaction, which the pooler keeps
on one server connection. Named prepared statements are another matter: psycopg prepares a query after its
fifth run, and a pooler in transaction mode hands the next transaction another server connection, where the
statement is missing or, worse, is another client's of the same name (PgBouncer 1.18 with an application on
psycopg: "bind message supplies 8 parameters, but prepared statement "_pg3_0" requires 0", 7 refreshes in 30).
So with `prepared_statements: auto` (the default) a collector checks once per connection whether the server's
process id is the one the connection was given at start-up; a pooler gives its own, and the collector then
runs its queries unprepared (parsed, planned and run in the same round trip) and logs it once. Planning at every
refresh costs a little (`bench/bench_pg.py` prints it per collector: about 0.2 ms for `credits`, `sla` and
`capacity`, 1.6 ms for `marketplace_sync` at 10,000 sellers). Set `prepared_statements: always` for a
pooler in session mode or one that tracks prepared statements (PgBouncer 1.21 and later with
`max_prepared_statements`), `never` to force the unprepared form. `tests/test_pg_pooler.py` runs the
collectors through Debian's PgBouncer in transaction mode beside an application that prepares its own.

## Drill-down

When an alert fires, `lookout-exporter report credits|sla|sync --config FILE` runs the collector's
`report*` queries with the same parameters and boundaries as its metrics and prints the rows behind
them (ids are fine there: it is not a metric). `lookout-exporter report blocking --config FILE` prints the
blocking tree of the `pg_activity` collector's server: each blocker (pid, user, application, state, transaction
age, first line of its query with literals masked) and, indented under it, the sessions waiting on it;
`--json` prints any report's rows as JSON. `--limit N` caps each table (default 100; the header of a
cut table says "first N rows, more exist") and `--at 2026-03-01T12:00:00Z` evaluates as of another time.
Exit code 0 when printed, 1 when a query failed (one line on stderr naming it), 2 for a configuration problem.

"""


def queries_md() -> str:
    """docs/queries.md: each PostgreSQL collector's parameters and named queries with their SQL."""
    from lookout.exporters.collectors import all_classes

    out = [QUERIES_INTRO]
    for cls in all_classes():
        module = __import__(cls.__module__, fromlist=["QUERY_DOCS"])
        query_docs: dict[str, str] | None = getattr(module, "QUERY_DOCS", None)
        if not (isinstance(cls, type) and issubclass(cls, PgCollector)) or query_docs is None:
            continue
        out.append(f"\n## `{cls.name}`\n\nParameters:\n\n| parameter | meaning |\n|---|---|\n")
        out.extend(f"| `{k}` | {v} |\n" for k, v in getattr(module, "PARAMS", {}).items())
        for name, sql in cls.DEFAULT_QUERIES.items():
            out.append(f"\n### `{cls.name}.{name}`\n\n{query_docs.get(name, '')}\n\n```sql\n{sql.strip()}\n```\n")
    return "".join(out)


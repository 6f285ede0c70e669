"""PostgreSQL sessions and locks, from the ``pg_activity`` collector: blocked sessions, transactions left idle,
queries that run too long.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import PG, _x, num
from lookout.monitoring.model import Alert, Case, Recording, above, promql

IDLE = 'state="idle in transaction"'
NEAR_MAX = f'ALERTS{{alertname="PostgresConnectionsNearMax",alertstate="firing",severity="warning",{PG}}}'
REPORT = "`lookout-exporter report blocking --config /etc/lookout/exporters.yaml`"


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    db = k.site.check("pg_activity")
    name = db[0].name if db else "app"
    unit = k.server_unit("databases")
    wait, idle, query = (float(t.pg_lock_wait_seconds.value), float(t.pg_idle_in_transaction_seconds.value),
                         float(t.pg_query_seconds.value))
    d = {"datname": name}
    return [
        Alert(
            name="PostgresSessionsBlocked",
            requires=("pg_activity",),
            group="postgres-activity",
            expr=above("lookout_pg_oldest_lock_wait_seconds", t.pg_lock_wait_seconds),
            severity="warning",
            summary="PostgreSQL sessions wait on a lock held by another session.",
            description="A session of database {{ $labels.datname }} has waited {{ $value | humanizeDuration }} on "
            "a lock another session holds.",
            panel=(uids.DB_OPS, "Longest lock wait"),
            value=v.duration("waiting on a lock"),
            fire=Case({f"lookout_pg_oldest_lock_wait_seconds{_x(**d)}": f"{num(wait + 60)}x10"}, value=wait + 60),
            quiet=Case({f"lookout_pg_oldest_lock_wait_seconds{_x(**d)}": f"{num(wait)}x10"}),
            for_="1m",
            meaning="Playbook incident 3's \"check for blocking queries\": a transaction holds row or table locks "
            "(often a session left idle in transaction, or a long migration) and other sessions queue behind it. "
            "Each waiter holds a pool connection: left alone, the pool runs out.",
            confirm=f"{REPORT} prints the blocking tree: each blocker (pid, user, application, state, transaction "
            "age, first line of its query) with the sessions waiting on it indented under it.",
            fix="Find the blocker's owner from its application and query. A blocker `idle in transaction` for "
            "minutes is a leaked transaction: `SELECT pg_terminate_backend(<blocker pid>);` rolls it back and frees "
            "every waiter (terminate the root of the tree, never the waiters: they are the victims). An active "
            "blocker (a migration, a batch job) may be better left to finish or cancelled with "
            "`pg_cancel_backend(<pid>)`, which keeps its session. Then fix the code path that left it open.",
        ),
        Alert(
            name="PostgresSessionsBlockedPoolNearMax",
            requires=("pg_activity", "postgres"),  # PostgresConnectionsNearMax exists
            group="postgres-activity",
            # the connections half is PostgresConnectionsNearMax itself: its threshold and `for` are written once
            expr=promql("lookout_pg_oldest_lock_wait_seconds > {wait} and on () "
                        'count(ALERTS{{alertname="PostgresConnectionsNearMax",alertstate="firing"}}) > 0',
                        wait=t.pg_lock_wait_seconds),
            severity="critical",
            summary="Blocked PostgreSQL sessions while connections are close to max_connections.",
            description="A session of database {{ $labels.datname }} has waited {{ $value | humanizeDuration }} on "
            "a lock, and PostgresConnectionsNearMax fires: the pool is running out.",
            panel=(uids.DB_OPS, "Longest lock wait"),
            value=v.duration("waiting on a lock"),
            fire=Case({f"lookout_pg_oldest_lock_wait_seconds{_x(**d)}": f"{num(wait + 60)}x10",
                       NEAR_MAX: "1x10"}, labels={"job": "lookout", "instance": "exporters:9808", **d},
                      value=wait + 60),
            quiet=Case({f"lookout_pg_oldest_lock_wait_seconds{_x(**d)}": f"{num(wait + 60)}x10"}),
            for_="1m",
            meaning="Playbook incident 3 as it happens: waiters pile up behind a lock and take the remaining "
            "connections; the next requests fail with 'too many clients'. Minutes away from an outage.",
            confirm=f"{REPORT}; `SELECT state, count(*) FROM pg_stat_activity GROUP BY 1;`.",
            fix="Terminate the root blocker of the tree (`SELECT pg_terminate_backend(<pid>);`, see "
            "PostgresSessionsBlocked): its waiters finish and give their connections back. Restarting the app frees "
            f"connections too but not the lock if the blocker is another client; `systemctl restart {unit}` is the "
            "last resort.",
        ),
        Alert(
            name="PostgresIdleInTransactionTooLong",
            requires=("pg_activity",),
            group="postgres-activity",
            expr=above(f"lookout_pg_oldest_transaction_age_seconds{{{IDLE}}}", t.pg_idle_in_transaction_seconds),
            severity="warning",
            summary="A PostgreSQL transaction has been left idle.",
            description="A transaction of database {{ $labels.datname }} has been open and idle for "
            "{{ $value | humanizeDuration }}.",
            panel=(uids.DB_OPS, "Oldest transaction"),
            value=v.duration("idle in transaction"),
            fire=Case({f"lookout_pg_oldest_transaction_age_seconds{_x(**d, state='idle in transaction')}":
                       f"{num(idle + 60)}x10"}, value=idle + 60),
            quiet=Case({f"lookout_pg_oldest_transaction_age_seconds{_x(**d, state='idle in transaction')}":
                        f"{num(idle)}x10"}),
            for_="1m",
            meaning="A client began a transaction and stopped talking (an exception path without rollback, a "
            "debugging session). It keeps its locks, its pool connection and holds back VACUUM.",
            confirm=f"{REPORT} (if it blocks anyone); `SELECT pid, usename, application_name, now() - xact_start "
            "FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' ORDER BY xact_start;`.",
            fix="`SELECT pg_terminate_backend(<pid>);` for the oldest one once its owner is known; set "
            "`idle_in_transaction_session_timeout` for the app's role; fix the code path that skips the "
            "rollback.",
        ),
        Alert(
            name="PostgresQueryTooLong",
            requires=("pg_activity",),
            group="postgres-activity",
            expr=above("lookout_pg_oldest_query_age_seconds", t.pg_query_seconds),
            severity="warning",
            summary="A PostgreSQL query has been running for a long time.",
            description="A query on database {{ $labels.datname }} has been running for "
            "{{ $value | humanizeDuration }}.",
            panel=(uids.DB_OPS, "Longest-running query"),
            value=v.duration("running"),
            fire=Case({f"lookout_pg_oldest_query_age_seconds{_x(**d)}": f"{num(query + 60)}x10"}, value=query + 60),
            quiet=Case({f"lookout_pg_oldest_query_age_seconds{_x(**d)}": f"{num(query)}x10"}),
            for_="1m",
            meaning="A query runs far longer than the platform's requests do: a missing index, a report over the "
            "whole table, or a session waiting on a lock (then PostgresSessionsBlocked fires too).",
            confirm="`SELECT pid, usename, application_name, now() - query_start, left(query, 80) FROM "
            "pg_stat_activity WHERE state = 'active' ORDER BY query_start LIMIT 5;`; `EXPLAIN` the query.",
            fix="`SELECT pg_cancel_backend(<pid>);` cancels the query and keeps the session; add the index or a "
            "`statement_timeout` for the role that ran it.",
        ),
    ]

"""PostgreSQL from postgres_exporter: up and connections against max_connections.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import PG, num
from lookout.monitoring.model import Alert, Case, Recording, above


def _db(k: Ctx) -> str:
    """The unit tests' database name: the site's first."""
    return k.site.databases[0].name if k.site.databases else "app"


def recordings(k: Ctx) -> list[Recording]:
    db = _db(k)
    return [
        Recording(
            record="instance:pg_connections:ratio",
            requires=("postgres",),
            group="postgres",
            expr="sum by (host, instance, job) (pg_stat_activity_count)"
            " / on (instance, job) max by (host, instance, job) (pg_settings_max_connections)",
            test=Case({f'pg_stat_activity_count{{{PG},datname="{db}",state="active"}}': "30x10",
                  f'pg_stat_activity_count{{{PG},datname="{db}",state="idle"}}': "20x10",
                  f"pg_settings_max_connections{{{PG}}}": "100x10"},
                 samples=((f"instance:pg_connections:ratio{{{PG}}}", 0.5),)),
        ),
    ]

def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    db = _db(k)
    at = 100 * float(t.pg_connections_ratio.value)  # connections of 100
    hi = min(100.0, at + 5)
    return [
        Alert(
            name="PostgresDown",
            requires=("postgres",),
            group="postgres",
            expr="pg_up == 0",
            severity="critical",
            summary="PostgreSQL does not answer the exporter.",
            description="postgres_exporter {{ $labels.instance }} cannot connect to PostgreSQL for 1 minute.",
            panel=(uids.HOST, "PostgreSQL up"),
            value=v.NO_VALUE,
            fire=Case({f"pg_up{{{PG}}}": "0x10"}),
            quiet=Case({f"pg_up{{{PG}}}": "1x10"}), for_="1m",
            meaning="Playbook incident 3 (P1): the database is down or refuses connections; every platform "
            "request that touches it fails.",
            confirm=f"`systemctl status {k.server_unit('databases')}`; `sudo -u postgres psql -c 'SELECT 1'`; the "
            "PostgreSQL log.",
            fix="Restart PostgreSQL after reading its log (disk full? see HostDiskSpaceCritical); then restart the "
            "apps if their pools do not reconnect.",
        ),
        Alert(
            name="PostgresConnectionsNearMax",
            requires=("postgres",),
            group="postgres",
            expr=above("instance:pg_connections:ratio", t.pg_connections_ratio),
            severity="warning",
            summary="PostgreSQL connections are close to max_connections.",
            description="{{ $value | humanizePercentage }} of max_connections are in use on {{ $labels.instance }}.",
            panel=(uids.HOST, "PostgreSQL connections / max_connections"),
            value=v.ratio("of max_connections"),
            fire=Case({f'pg_stat_activity_count{{{PG},datname="{db}",state="idle in transaction"}}': f"{num(hi)}x10",
                  f"pg_settings_max_connections{{{PG}}}": "100x10"}, labels={"job": "postgres",
                 "instance": "postgres-exporter:9187"}, value=hi / 100),
            quiet=Case({f'pg_stat_activity_count{{{PG},datname="{db}",state="idle in transaction"}}':
                        f"{num(at)}x10",
                  f"pg_settings_max_connections{{{PG}}}": "100x10"}),
            for_="2m",
            meaning="Playbook incident 3: the connection pool is about to be exhausted; new connections will be "
            "refused with 'too many clients'.",
            confirm="`sudo -u postgres psql -c 'SELECT count(*) FROM pg_stat_activity;'` and "
            "`SELECT state, count(*) FROM pg_stat_activity GROUP BY 1;` (look for 'idle in transaction'); blocking "
            "queries: `SELECT * FROM pg_stat_activity WHERE state = 'active';`.",
            fix="Terminate leaked sessions (`SELECT pg_terminate_backend(pid) ...` for old idle-in-transaction ones), "
            "fix the leak in the app, size pools so workers x pool size < max_connections.",
        ),
    ]

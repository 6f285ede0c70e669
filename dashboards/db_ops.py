"""Database operations: who blocks whom, idle transactions, long queries, backups and WAL archiving."""

from lookout.dashboards._lib import Board, board, stat, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx

SEL = 'instance=~"$instance"'


def build(k: Ctx) -> Board | None:
    if not k.any("pg_activity", "backups"):
        return None
    t = k.t
    act, bak = ("pg_activity",), ("backups",)
    return board(
        k,
        uids.DB_OPS, "Lookout / Database operations",
        "PostgreSQL sessions and locks (pg_activity: `lookout-exporter report blocking` prints who blocks "
        "whom) and backups (newest dump, WAL archiving).",
        [
            timeseries("Blocked sessions", "Sessions waiting on a lock another session holds, per database.",
                       [(f"lookout_pg_blocked_sessions{{{SEL}}}", "{{datname}}")], "short", w=8, requires=act),
            timeseries("Longest lock wait", "How long the longest-waiting blocked session has waited.",
                       [(f"lookout_pg_oldest_lock_wait_seconds{{{SEL}}}", "{{datname}}")], "s",
                       [t.pg_lock_wait_seconds],
                       w=8, requires=act),
            timeseries("Longest-running query", "Run time of the oldest active query, per database.",
                       [(f"lookout_pg_oldest_query_age_seconds{{{SEL}}}", "{{datname}}")], "s", [t.pg_query_seconds],
                       w=8, requires=act),
            timeseries("Idle-in-transaction sessions", "Sessions idle inside an open transaction (they hold their "
                       "locks and a pool connection).",
                       [(f"lookout_pg_idle_in_transaction_sessions{{{SEL}}}", "{{datname}}")], "short", w=12,
                       requires=act),
            timeseries("Oldest transaction", "Age of the oldest open transaction per database and session state.",
                       [(f"lookout_pg_oldest_transaction_age_seconds{{{SEL}}}", "{{datname}} {{state}}")], "s",
                       [t.pg_idle_in_transaction_seconds], w=12, requires=act),
            stat("Backups found", "Backups in the backup directory (entries matching the glob).",
                 [(f"lookout_backup_files{{{SEL}}}", "backups")], "short", w=6, requires=bak),
            timeseries("Newest backup age", "Age of the newest backup against one and two missed intervals.",
                       [(f"lookout_backup_newest_age_seconds{{{SEL}}}", "newest backup"),
                        (f"lookout_backup_expected_interval_seconds{{{SEL}}}", "expected interval")], "s",
                       [t.backup_age_seconds, t.backup_age_page_seconds], w=9, requires=bak),
            timeseries("Newest backup size / previous", "Size of the newest backup over the one before it: a "
                       "sudden drop is a truncated or partial dump.",
                       [(f"lookout_backup_newest_size_bytes{{{SEL}}}"
                         f" / (lookout_backup_previous_size_bytes{{{SEL}}} > 0)",
                         "newest / previous")], "percentunit", [t.backup_shrink_ratio], w=9, requires=bak),
            timeseries("WAL archiving", "Failed archiving attempts per rate interval, and 1 while the last attempt "
                       "failed (absent when archive_mode is off).",
                       [(f"increase(lookout_pg_archiver_failed_total{{{SEL}}}[$__rate_interval])", "failed attempts"),
                        (f"lookout_pg_archiver_failing{{{SEL}}}", "failing")], "short", w=12, requires=bak),
            timeseries("Last WAL file archived", "Time since the last WAL segment was archived.",
                       [(f"lookout_pg_archiver_last_archived_age_seconds{{{SEL}}}", "since last archived")], "s", w=12,
                       requires=bak),
        ],
        ("instance", "Exporter", 'label_values(up{job="lookout"}, instance)'),
    )

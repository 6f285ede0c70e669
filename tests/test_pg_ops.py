"""PostgreSQL sessions, locks and backups on real servers: the ``pg_activity`` and ``backups`` collectors and
``lookout-exporter report blocking``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from lookout.exporters.collectors.pg_activity import blocking_tree, bounded, query_line
from lookout.stack.procs import wait_until
from lookout.stack.servers import pg_bin
from tests.support.exporter import run_cli, write_config
from tests.support.pg_scenarios import NOW, make, refresh
from tests.support.servers import postgres_server


def v(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def _wait(cond, timeout=20.0, what="condition"):
    return wait_until(cond, timeout, what, interval=0.1)


@pytest.fixture(scope="module")
def own_pg():
    """A server of this module's own: the session's server holds other tests' databases and sessions, which
    would fold into `other` past max_databases and wait on locks of their own."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def locks_db(own_pg):
    dsn = own_pg.create_database("pg_locks")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, credits int)")
        conn.execute("INSERT INTO accounts VALUES (1, 100), (2, 50)")
    return dsn


def test_row_lock_blocked_session_metrics_report_and_back_to_zero(locks_db, tmp_path):
    c = make("pg_activity", locks_db)
    quiet = refresh(c)
    assert v(quiet, "lookout_pg_blocked_sessions", datname="pg_locks") == 0
    assert v(quiet, "lookout_pg_idle_in_transaction_sessions", datname="pg_locks") == 0
    assert v(quiet, "lookout_pg_oldest_transaction_age_seconds", datname="pg_locks", state="idle in transaction") == 0

    holder = psycopg.connect(locks_db, application_name="billing-job")
    waiter = psycopg.connect(locks_db, autocommit=True, application_name="voice-api")
    done = threading.Event()
    try:
        holder.execute("SELECT credits FROM accounts WHERE id = 1 FOR UPDATE")  # stays idle in transaction
        holder_pid = holder.info.backend_pid
        waiter_pid = waiter.info.backend_pid

        def update() -> None:
            waiter.execute("UPDATE accounts SET credits = credits - 7 WHERE id = 1")
            done.set()

        t = threading.Thread(target=update, daemon=True)
        t.start()
        s = _wait(lambda: (r := refresh(c)) and v(r, "lookout_pg_blocked_sessions", datname="pg_locks") == 1 and r,
                  what="the waiter to be counted")
        time.sleep(1.2)
        s = refresh(c)
        assert v(s, "lookout_pg_blocked_sessions", datname="pg_locks") == 1
        assert v(s, "lookout_pg_idle_in_transaction_sessions", datname="pg_locks") == 1
        assert v(s, "lookout_pg_oldest_transaction_age_seconds", datname="pg_locks", state="idle in transaction") >= 1
        assert v(s, "lookout_pg_oldest_lock_wait_seconds", datname="pg_locks") >= 1
        # the waiter is an active query in an active transaction
        assert v(s, "lookout_pg_oldest_query_age_seconds", datname="pg_locks") >= 1
        assert v(s, "lookout_pg_oldest_transaction_age_seconds", datname="pg_locks", state="active") >= 1
        assert {k for _, labels in s for k, _ in labels} <= {"datname", "state"}

        cfg = write_config(tmp_path / "exporter.yaml", {"pg_activity": {"dsn": locks_db}})
        out = run_cli("report", "blocking", "--config", str(cfg))
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert "1 blocker" in lines[0] and "1 waiting" in lines[0]
        blocker = next(ln for ln in lines if ln.startswith(str(holder_pid)))
        waiting = next(ln for ln in lines if ln.startswith(f"└ {waiter_pid}"))
        assert lines.index(waiting) == lines.index(blocker) + 1  # the waiter right under its blocker
        assert "billing-job" in blocker and "idle in transaction" in blocker
        assert "voice-api" in waiting and "waiting: active" in waiting
        assert "UPDATE accounts SET credits = credits - ? WHERE id = ?" in waiting
        assert "SELECT credits FROM accounts WHERE id = ? FOR UPDATE" in blocker

        js = run_cli("report", "blocking", "--config", str(cfg), "--json")
        assert js.returncode == 0, js.stderr
        sessions = json.loads(js.stdout)["sessions"]
        assert [(x["pid"], x["depth"], x["waits_on"]) for x in sessions] == [
            (holder_pid, 0, []), (waiter_pid, 1, [holder_pid])]
        assert sessions[0]["xact_age_seconds"] >= 1

        holder.commit()
        assert done.wait(10)
        after = refresh(c)
        assert v(after, "lookout_pg_blocked_sessions", datname="pg_locks") == 0
        assert v(after, "lookout_pg_idle_in_transaction_sessions", datname="pg_locks") == 0
        assert v(after, "lookout_pg_oldest_lock_wait_seconds", datname="pg_locks") == 0
        assert v(after, "lookout_pg_oldest_query_age_seconds", datname="pg_locks") == 0
        for state in ("active", "idle in transaction"):
            assert v(after, "lookout_pg_oldest_transaction_age_seconds", datname="pg_locks", state=state) == 0
        empty = run_cli("report", "blocking", "--config", str(cfg))
        assert empty.returncode == 0 and "no session waits" in empty.stdout
    finally:
        holder.close()
        waiter.close()
        c.stop()


def test_idle_in_transaction_ages(locks_db):
    c = make("pg_activity", locks_db)
    idle = psycopg.connect(locks_db)
    try:
        idle.execute("SELECT 1")
        first = v(refresh(c), "lookout_pg_oldest_transaction_age_seconds", datname="pg_locks",
                  state="idle in transaction")
        time.sleep(1.5)
        s = refresh(c)
        assert v(s, "lookout_pg_idle_in_transaction_sessions", datname="pg_locks") == 1
        later = v(s, "lookout_pg_oldest_transaction_age_seconds", datname="pg_locks", state="idle in transaction")
        assert later >= first + 1.4
        idle.rollback()
        s = refresh(c)
        assert v(s, "lookout_pg_idle_in_transaction_sessions", datname="pg_locks") == 0
    finally:
        idle.close()
        c.stop()


def test_databases_beyond_the_cap_fold_into_other():
    rows = [{"datname": f"db{i}", "blocked": i % 2, "oldest_lock_wait": i, "idle_in_transaction": 1,
             "oldest_active_xact": None, "oldest_idle_xact": 10 * i, "oldest_query": None} for i in range(5)]
    out = bounded(rows, 2)
    assert set(out) == {"db1", "db3", "other"}  # the busiest by name, the rest folded
    assert sum(a.idle_in_transaction for a in out.values()) == 5  # totals stay exact
    assert out["other"].blocked == 0 and out["other"].oldest_idle_xact == 40


def test_query_line_masks_literals_and_truncates():
    assert query_line("\n  UPDATE t SET a = 'secret''s' , b = 42.5\nWHERE id = $1") == "UPDATE t SET a = '?' , b = ?"
    assert query_line("SELECT $tag$token$tag$, E'x\\'y', t1.c2 FROM t1") == "SELECT '?', '?', t1.c2 FROM t1"
    assert len(query_line("SELECT " + "x, " * 100)) == 80
    assert query_line(None) == ""


def test_blocking_tree_chains_and_cycles():
    rows = [{"pid": 3, "blocked_by": [2]}, {"pid": 2, "blocked_by": [1]}, {"pid": 1, "blocked_by": []},
            {"pid": 4, "blocked_by": [1]}]
    assert [(r["pid"], r["depth"]) for r in blocking_tree(rows)] == [(1, 0), (2, 1), (3, 2), (4, 1)]
    cycle = [{"pid": 5, "blocked_by": [6]}, {"pid": 6, "blocked_by": [5]}]
    assert [(r["pid"], r["depth"]) for r in blocking_tree(cycle)] == [(5, 0), (6, 1)]


# --- backups ---------------------------------------------------------------------------------------
def _dump(dsn: str, target: Path) -> None:
    subprocess.run([pg_bin("pg_dump"), "-Fc", "-f", str(target), dsn], check=True, timeout=60)


def test_backups_real_pg_dump_then_a_truncated_one(pg, tmp_path):
    dsn = pg.create_database("pg_backups")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE calls AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g")
    d = tmp_path / "backups"
    d.mkdir()
    c = make("backups", dsn, dir=str(d), glob="app-*.dump", expected_interval="1h", archiver=False)
    try:
        s = refresh(c)
        assert v(s, "lookout_backup_files") == 0 and v(s, "lookout_backup_newest_age_seconds") is None

        _dump(dsn, d / "app-1.dump")
        _dump(dsn, d / "app-2.dump")
        (d / "other.sql").write_text("not matched by the glob")
        (d / ".app-3.dump").write_text("being written")  # hidden: a dump in progress
        t = NOW.timestamp()
        os.utime(d / "app-1.dump", (t - 7200, t - 7200))
        os.utime(d / "app-2.dump", (t - 600, t - 600))
        full = (d / "app-2.dump").stat().st_size
        assert (d / "app-2.dump").read_bytes()[:5] == b"PGDMP"
        s = refresh(c)
        assert v(s, "lookout_backup_files") == 2
        assert v(s, "lookout_backup_newest_age_seconds") == 600
        assert v(s, "lookout_backup_newest_size_bytes") == full
        assert v(s, "lookout_backup_previous_size_bytes") == (d / "app-1.dump").stat().st_size
        assert v(s, "lookout_backup_expected_interval_seconds") == 3600
        assert v(s, "lookout_pg_archiver_enabled") is None  # archiver: false

        # a dump cut short (disk full, killed job) is the newest: a fraction of the previous one's size
        (d / "app-3.dump").write_bytes((d / "app-2.dump").read_bytes()[: full // 10])
        os.utime(d / "app-3.dump", (t - 60, t - 60))
        s = refresh(c)
        assert v(s, "lookout_backup_files") == 3
        assert v(s, "lookout_backup_newest_age_seconds") == 60
        assert v(s, "lookout_backup_newest_size_bytes") == full // 10
        assert v(s, "lookout_backup_previous_size_bytes") == full
        restore = subprocess.run([pg_bin("pg_restore"), "-f", os.devnull, str(d / "app-3.dump")], capture_output=True)
        assert restore.returncode != 0  # really broken, as the alert presumes
    finally:
        c.stop()


def test_backups_directory_dump_and_missing_directory(pg, tmp_path):
    dsn = pg.dsn("postgres")
    d = tmp_path / "dumps"
    d.mkdir()
    subprocess.run([pg_bin("pg_dump"), "-Fd", "-f", str(d / "full-1"), dsn], check=True, timeout=60)
    c = make("backups", dsn, dir=str(d), glob="full-*", archiver=False)
    try:
        s = refresh(c)
        assert v(s, "lookout_backup_files") == 1
        assert v(s, "lookout_backup_newest_size_bytes") == sum(p.stat().st_size for p in (d / "full-1").iterdir())
    finally:
        c.stop()
    gone = make("backups", dsn, dir=str(tmp_path / "nowhere"), archiver=False)
    from lookout.exporters.source_errors import SourceError

    with pytest.raises(SourceError, match=r"^backups: cannot list .*nowhere: No such file"):
        refresh(gone)


def test_wal_archiving_succeeds_then_fails():
    with postgres_server() as srv:
        base = srv.datadir.parent  # where user postgres may write (pytest's own directories are root's alone)
        archive = base / "archive"
        archive.mkdir()
        os.chmod(archive, 0o777)
        stop_file = base / "archive-broken"
        srv.stop()
        with open(srv.datadir / "postgresql.conf", "a") as f:
            f.write(f"\narchive_mode = on\narchive_timeout = 0\n"
                    f"archive_command = 'test ! -e {stop_file} && cp %p {archive}/%f'\n")
        srv.start()
        dsn = srv.dsn()
        c = make("backups", dsn, dir=str(archive), glob="0*")
        c.clock = lambda: datetime.now(UTC)

        def switch() -> None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS w (x int)")
                conn.execute("INSERT INTO w SELECT generate_series(1, 100)")
                conn.execute("SELECT pg_switch_wal()")

        try:
            switch()
            # the directory is listed before the statistics are read: both must have seen the copy
            s = _wait(lambda: (r := refresh(c)) and (v(r, "lookout_pg_archiver_archived_total") or 0) >= 1
                      and v(r, "lookout_backup_files") >= 1 and r, what="a WAL file archived")
            assert v(s, "lookout_pg_archiver_enabled") == 1
            assert v(s, "lookout_pg_archiver_failed_total") == 0
            assert v(s, "lookout_pg_archiver_failing") == 0
            assert 0 <= v(s, "lookout_pg_archiver_last_archived_age_seconds") < 30
            assert v(s, "lookout_backup_files") >= 1  # the archive directory read as a backup directory

            stop_file.write_text("archive storage gone")
            switch()
            s = _wait(lambda: (r := refresh(c)) and (v(r, "lookout_pg_archiver_failed_total") or 0) >= 1 and r,
                      what="a failed archiving attempt")
            assert v(s, "lookout_pg_archiver_failing") == 1
            archived = v(s, "lookout_pg_archiver_archived_total")

            stop_file.unlink()  # repaired: the archiver catches up
            s = _wait(lambda: (r := refresh(c)) and v(r, "lookout_pg_archiver_failing") == 0 and r, timeout=90,
                      what="archiving to recover")
            assert v(s, "lookout_pg_archiver_archived_total") > archived
        finally:
            c.stop()


def test_pg_activity_and_backups_without_a_server(tmp_path):
    from lookout.exporters.source_errors import SourceError

    c = make("pg_activity", "postgresql://nobody@127.0.0.1:1/x", connect_timeout="1s")
    with pytest.raises(SourceError, match="cannot connect"):
        refresh(c)
    c.stop()
    cfg = write_config(tmp_path / "c.yaml", {"pg_activity": {"dsn": "${PGOPS_DSN}", "connect_timeout": "1s"}})
    bad = run_cli("report", "blocking", "--config", str(cfg), env={"PGOPS_DSN": "postgresql://u:hunter2@127.0.0.1:1/x"})
    assert bad.returncode == 1 and "hunter2" not in bad.stderr + bad.stdout
    assert len(bad.stderr.strip().splitlines()) == 1


# --- the site and the catalog ----------------------------------------------------------------------
def test_backup_thresholds_follow_the_sites_expected_interval():
    from lookout.monitoring.catalog import build
    from lookout.monitoring.site import load_site
    from tests.test_site import _site

    demo = build(load_site(Path(__file__).resolve().parents[1] / "examples" / "demo.yaml"))
    assert demo.thresholds.backup_age_seconds.value == 150  # 2m + 25%
    assert demo.thresholds.backup_age_page_seconds.value == 270  # two missed, + 25%
    expr = demo.alerts_by_name["BackupMissing"].expr
    assert "lookout_backup_newest_age_seconds > 150 or lookout_backup_files == 0" in expr
    db = """
        databases:
          - {name: d, host: app-1, platform: x, dsn: '${D}', checks: {backups: {dir: /srv/dumps}, pg_activity: {}}}
        """
    nightly = build(_site(databases=db))
    assert nightly.thresholds.backup_age_seconds.value == 86400 * 1.25  # the collector's default: a nightly dump
    assert {"PostgresSessionsBlocked", "BackupMissedTwice", "PostgresWalArchivingFailing"} <= set(
        nightly.alerts_by_name)


@pytest.mark.parametrize("check, message", [
    ("backups: {glob: '*.dump'}", r"^databases\[0\]\.checks\.backups\.dir: required key is missing"),
    ("backups: {dir: /srv, glob: 'a/*.dump'}", r"^databases\[0\]\.checks\.backups: glob: expected a file name"),
    ("backups: {dir: /srv, expected_interval: soon}", r"^databases\[0\]\.checks\.backups\.expected_interval: "),
    ("pg_activity: {max_databases: 0}", r"^databases\[0\]\.checks\.pg_activity: max_databases: must be between"),
])
def test_bad_check_settings_are_one_line_naming_the_key(check, message):
    from lookout.monitoring.site import SiteError
    from tests.test_site import _site

    with pytest.raises(SiteError) as err:
        _site(databases=f"databases:\n  - {{name: d, host: app-1, platform: x, dsn: '${{D}}', checks: {{{check}}}}}\n")
    assert "\n" not in str(err.value)
    assert re.search(message, str(err.value)), str(err.value)


def test_the_exporter_serves_both_collectors_and_promtool_accepts_the_names(own_pg, tmp_path):
    from tests.support.exporter import exporter, promtool_check_metrics

    d = tmp_path / "dumps"
    d.mkdir()
    (d / "app-1.dump").write_bytes(b"PGDMP" + b"x" * 100)
    cfg = write_config(tmp_path / "exporter.yaml", {
        "pg_activity": {"dsn": "${PGOPS_DSN}", "interval": "1s"},
        "backups": {"dsn": "${PGOPS_DSN}", "interval": "1s", "dir": str(d), "glob": "app-*.dump"},
    })
    with exporter(cfg, env={"PGOPS_DSN": own_pg.dsn()}) as exp:
        s = exp.wait_for(lambda m: m.get(("lookout_backup_files", ())) == 1
                         and ("lookout_pg_blocked_sessions", (("datname", "postgres"),)) in m)
        assert s[("lookout_pg_archiver_enabled", ())] == 0  # the test server does not archive
        assert s[("lookout_collector_up", (("collector", "pg_activity"),))] == 1
        assert promtool_check_metrics(exp.metrics()) == ""

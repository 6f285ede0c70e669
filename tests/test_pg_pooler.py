"""The PostgreSQL collectors behind PgBouncer in transaction mode, beside an application whose own psycopg
connections prepare statements through the same pooler (real PgBouncer and PostgreSQL)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg
import pytest

from lookout.exporters.collectors._pg import QueryError
from tests.support.pg_scenarios import load_chatcenter, make, refresh, schema
from tests.support.pooler import pgbouncer


@pytest.fixture(scope="module")
def dsns(pg) -> Iterator[tuple[str, str]]:
    """(direct, through the pooler) DSNs of one loaded chat center database."""
    direct = pg.create_database("pg_pooler", schema("chatcenter"))
    load_chatcenter(direct)
    with pgbouncer(pg) as port:
        yield direct, f"postgresql://{pg.user}@127.0.0.1:{port}/pg_pooler"


@pytest.fixture
def busy_application(dsns) -> Iterator[None]:
    """Two clients of the application, each running prepared statements of its own through the pooler."""
    stop = threading.Event()

    def client() -> None:
        with psycopg.connect(dsns[1], autocommit=True, prepare_threshold=0) as conn:
            while not stop.is_set():
                with contextlib.suppress(psycopg.Error):  # the pooler loses its statements too: it goes on
                    conn.execute("SELECT %s::int + 1, pg_sleep(0.002)", (1,))

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    yield
    stop.set()
    for t in threads:
        t.join(timeout=10)


def test_collectors_behind_a_transaction_pooler_run_unprepared_and_agree(dsns, busy_application):
    direct, pooled = dsns
    expected = {}
    for name in ("marketplace_sync", "capacity"):
        c = make(name, direct)
        expected[name] = refresh(c)
        assert c.source.pooled is False and c.source._conn.prepare_threshold == 5  # psycopg's default
        c.stop()
    for name in ("marketplace_sync", "capacity"):
        c = make(name, pooled)
        # before: named statements went to whichever server connection the pooler picked, where they were
        # missing or another client's ("bind message supplies 8 parameters, but prepared statement "_pg3_0"
        # requires 0"): 7 of 30 refreshes failed
        got = [refresh(c) for _ in range(30)]
        assert c.source.pooled is True and c.source._conn.prepare_threshold is None
        assert all(g == expected[name] for g in got)
        c.stop()


def test_guards_hold_per_transaction_through_the_pooler(dsns):
    c = make("marketplace_sync", dsns[1], statement_timeout="300ms")
    source = c.source
    source.sql.update({"_a": "SELECT current_setting('statement_timeout') AS t, "
                             "current_setting('transaction_read_only') AS ro",
                       "_slow": "SELECT pg_sleep(5)", "_write": "CREATE TABLE lookout_was_here (x int)"})
    for _ in range(5):  # whichever server connection each transaction lands on
        assert source.run("_a", params={}) == {"_a": [{"t": "300ms", "ro": "on"}]}
    with pytest.raises(QueryError, match="_slow failed: canceling statement due to statement timeout"):
        source.run("_slow", params={})
    with pytest.raises(QueryError, match="_write failed: cannot execute CREATE TABLE in a read-only transaction"):
        source.run("_write", params={})
    c.stop()


@pytest.mark.parametrize(("mode", "through_pooler", "prepared"), [
    ("never", False, False), ("always", True, True),
])
def test_prepared_statements_setting_overrides_the_detection(dsns, mode, through_pooler, prepared):
    c = make("capacity", dsns[1] if through_pooler else dsns[0], prepared_statements=mode)
    refresh(c)
    assert (c.source._conn.prepare_threshold is not None) is prepared
    c.stop()

"""The PostgreSQL collectors inside the real exporter process: failures, timeouts, restarts."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.support.exporter import exporter, promtool_check_metrics, value, write_config
from tests.support.pg_scenarios import schema
from tests.support.servers import postgres_server

FAST = {"interval": "300ms", "timeout": "10s", "statement_timeout": "2s", "connect_timeout": "2s"}
COLLECTORS = ("credits", "marketplace_sync", "sla", "capacity")


def _up(name):
    return lambda s: value(s, "lookout_collector_up", collector=name) == 1


def _down(name, errors=1):
    return lambda s: (value(s, "lookout_collector_up", collector=name) == 0
                      and (value(s, "lookout_collector_errors_total", collector=name) or 0) >= errors)


def _connections(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE application_name LIKE 'lookout-%%'"
            " AND datname = current_database()"
            " GROUP BY 1"
        ).fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def dbs(pg):
    voice = pg.create_database("pgrt_voice", schema("voice"))
    chat = pg.create_database("pgrt_chat", schema("chatcenter"))
    with psycopg.connect(voice, autocommit=True) as conn:
        conn.execute("INSERT INTO customer_agents (customer_id, elevenlabs_agent_id, name) VALUES (7, 'el-7', 'a')")
        conn.execute(
            "INSERT INTO conversations (conversation_id, customer_id, agent_id, started_at)"
            " SELECT 'live-noend', 7, id, now() - interval '2 hours' FROM customer_agents"
        )
    with psycopg.connect(chat, autocommit=True) as conn:
        conn.execute("INSERT INTO sellers (id, name, last_active_at) VALUES (1, 's', now())")
        conn.execute(
            "INSERT INTO interactions (seller_id, channel, marketplace, external_id, sla_due_at)"
            " VALUES (1, 'question', 'ozon', 'q1', now() - interval '10 minutes')"
        )
    return {"credits": voice, "marketplace_sync": chat, "sla": chat, "capacity": chat}


def test_all_collectors_in_the_exporter(tmp_path, dbs, pg):
    cfg = write_config(tmp_path / "all.yaml", {name: {"dsn": dbs[name], **FAST} for name in COLLECTORS})
    with exporter(cfg) as ex:
        s = ex.wait_for(lambda s: all(_up(n)(s) for n in COLLECTORS), timeout=30)
        assert value(s, "lookout_credits_conversations_unreconciled", reason="no_end_event") == 1
        assert value(s, "lookout_sla_interactions_breached", channel="question") == 1
        assert value(s, "lookout_capacity_usage", resource="active_sellers") == 1
        assert promtool_check_metrics(ex.metrics()) == ""
        # one connection per collector, named, however many refreshes ran
        ex.wait_for(lambda s: s[("lookout_collector_last_success_timestamp_seconds",
                                 (("collector", "capacity"),))] > time.time() - 1, timeout=20)
        conns = {**_connections(dbs["credits"]), **_connections(dbs["sla"])}
    assert conns == {f"lookout-{n}": 1 for n in COLLECTORS}


def test_statement_timeout_keeps_the_exporter_serving(tmp_path, dbs):
    cfg = write_config(tmp_path / "sleep.yaml", {
        "credits": {"dsn": dbs["credits"], **FAST, "statement_timeout": "200ms",
                    "queries": {"reconcile": "SELECT pg_sleep(5) AS no_end_event"}},
        "capacity": {"dsn": dbs["capacity"], **FAST},
    })
    with exporter(cfg) as ex:
        s = ex.wait_for(lambda s: _down("credits", errors=3)(s) and _up("capacity")(s), timeout=30)
        assert value(s, "lookout_credits_conversations_unreconciled", reason="no_end_event") is None
        log = ex.log()
    lines = [x for x in log.splitlines() if "collector credits failed" in x]
    assert len(lines) == 1, log
    assert "query credits.reconcile failed: canceling statement due to statement timeout" in lines[0]


def test_missing_column_is_one_log_line_naming_the_query(tmp_path, pg):
    dsn = pg.create_database("pgrt_broken", schema("voice"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE conversations DROP COLUMN credits_charged")
    cfg = write_config(tmp_path / "broken.yaml", {"credits": {"dsn": dsn, **FAST}})
    with exporter(cfg) as ex:
        ex.wait_for(_down("credits", errors=3), timeout=30)
        assert promtool_check_metrics(ex.metrics()) == ""
        log = ex.log()
    lines = [x for x in log.splitlines() if "credits" in x and "ERROR" in x]
    assert len(lines) == 1, log
    assert 'query credits.reconcile failed: column c.credits_charged does not exist' in lines[0]


def test_database_restart_recovers(tmp_path):
    with postgres_server() as server:
        voice = server.create_database("voice", schema("voice"))
        chat = server.create_database("chat", schema("chatcenter"))
        cfg = write_config(tmp_path / "restart.yaml", {
            "credits": {"dsn": voice, **FAST}, "sla": {"dsn": chat, **FAST},
        })
        with exporter(cfg) as ex:
            ex.wait_for(lambda s: _up("credits")(s) and _up("sla")(s), timeout=30)
            server.stop()
            ex.wait_for(lambda s: _down("credits")(s) and _down("sla")(s), timeout=30)
            server.start()
            ex.wait_for(lambda s: _up("credits")(s) and _up("sla")(s), timeout=40)
            assert {**_connections(voice), **_connections(chat)} == {"lookout-credits": 1, "lookout-sla": 1}
            log = ex.log()
    assert sum("collector credits failed" in x for x in log.splitlines()) == 1, log
    assert "collector credits recovered" in log


def test_sigterm_during_a_long_query_exits_fast(tmp_path, dbs):
    cfg = write_config(tmp_path / "long.yaml", {
        "sla": {"dsn": dbs["sla"], "interval": "300ms", "timeout": "60s", "statement_timeout": "60s",
                "queries": {"sla_status": "SELECT pg_sleep(30) AS channel"}},
    })
    with exporter(cfg) as ex:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "lookout-sla" not in _connections(dbs["sla"]):
            time.sleep(0.1)
        took = ex.stop()
    assert took < 5  # generous on a loaded machine; the runtime's own budget is 1 s
    assert ex.proc.returncode == 0

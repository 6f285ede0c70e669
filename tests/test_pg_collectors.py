"""The PostgreSQL collectors on scenario data at exact boundaries (real PostgreSQL, fixed clock)."""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest

from lookout.exporters.collectors import marketplace_sync
from lookout.exporters.collectors._pg import QueryError
from lookout.exporters.config import ConfigError
from tests.support.exporter import run_cli, write_config
from tests.support.naive_sync import naive_marketplace_sync
from tests.support.pg_scenarios import NOW, D, S, load_chatcenter, load_voice, make, refresh, schema


@pytest.fixture(scope="module")
def voice_dsn(pg):
    dsn = pg.create_database("pg_voice", schema("voice"))
    load_voice(dsn)
    return dsn


@pytest.fixture(scope="module")
def chat_dsn(pg):
    dsn = pg.create_database("pg_chat", schema("chatcenter"))
    load_chatcenter(dsn)
    return dsn


def v(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def test_credits_reasons_at_exact_boundaries(voice_dsn):
    c = make("credits", voice_dsn, window="24h", max_call_length="30m", charge_grace="5m", charge_tolerance="1s")
    s = refresh(c)
    c.stop()
    assert v(s, "lookout_credits_conversations_unreconciled", reason="no_end_event") == 3  # c01, c04, c14
    assert v(s, "lookout_credits_unreconciled_seconds", reason="no_end_event") == 1800 + 1800 + 200
    assert v(s, "lookout_credits_conversations_unreconciled", reason="not_charged") == 2  # c06, c08
    assert v(s, "lookout_credits_unreconciled_seconds", reason="not_charged") == 120 + 61
    assert v(s, "lookout_credits_conversations_unreconciled", reason="charge_mismatch") == 2  # c09, c11
    assert v(s, "lookout_credits_unreconciled_seconds", reason="charge_mismatch") == 2 + 60
    assert v(s, "lookout_credits_customers_negative_balance") == 2
    assert v(s, "lookout_credits_negative_balance_credits") == 60
    assert v(s, "lookout_credits_window_seconds") == 86400
    # no tenant id anywhere in the labels
    assert {k for _, labels in s for k, _ in labels} == {"reason"}


def test_credits_boundaries_move_with_settings(voice_dsn):
    # A tolerance of 2 s accepts c09 (diff 2); a 31-minute max call length accepts c01 (31 min).
    c = make("credits", voice_dsn, max_call_length="31m", charge_tolerance="2s", charge_grace=301)
    s = refresh(c)
    c.stop()
    assert v(s, "lookout_credits_conversations_unreconciled", reason="no_end_event") == 2  # c04, c14
    assert v(s, "lookout_credits_conversations_unreconciled", reason="charge_mismatch") == 1  # c11
    assert v(s, "lookout_credits_conversations_unreconciled", reason="not_charged") == 1  # c06 (c08 ended 5m1s ago)


def test_marketplace_sync(chat_dsn):
    c = make("marketplace_sync", chat_dsn, stale_thresholds=["2m", "15m", "1h"], error_threshold=3,
             token_horizon="14d")
    s = refresh(c)
    c.stop()

    def mk(name, m, k, **extra):
        return v(s, name, marketplace=m, kind=k, **extra)

    assert mk("lookout_marketplace_sync_sellers", "wb", "chats") == 4  # sellers 1, 2, 3, 5
    assert mk("lookout_marketplace_sync_lag_seconds", "wb", "chats") == 16 * 60
    assert mk("lookout_marketplace_sync_stale_sellers", "wb", "chats", threshold="120") == 2  # sellers 2, 5
    assert mk("lookout_marketplace_sync_stale_sellers", "wb", "chats", threshold="900") == 1
    assert mk("lookout_marketplace_sync_stale_sellers", "wb", "chats", threshold="3600") == 0
    assert mk("lookout_marketplace_sync_erroring_sellers", "wb", "chats") == 1
    assert mk("lookout_marketplace_sync_consecutive_errors_max", "wb", "chats") == 3
    assert mk("lookout_marketplace_sync_lag_seconds", "wb", "feedbacks") == 120
    assert mk("lookout_marketplace_sync_stale_sellers", "wb", "feedbacks", threshold="120") == 0
    assert mk("lookout_marketplace_sync_stale_sellers", "wb", "questions", threshold="120") == 1
    assert mk("lookout_marketplace_sync_lag_seconds", "ozon", "chats") == 7200
    for th in ("120", "900", "3600"):
        assert mk("lookout_marketplace_sync_stale_sellers", "ozon", "chats", threshold=th) == 1
    assert mk("lookout_marketplace_sync_erroring_sellers", "ozon", "chats") == 1
    assert mk("lookout_marketplace_sync_consecutive_errors_max", "ozon", "chats") == 5
    # zeros for kinds nobody syncs, so every series exists
    assert mk("lookout_marketplace_sync_lag_seconds", "ozon", "feedbacks") == 0
    assert mk("lookout_marketplace_sync_sellers", "ozon", "questions") == 0
    assert v(s, "lookout_marketplace_token_earliest_expiry_timestamp_seconds",
             marketplace="wb") == (NOW.timestamp() - 86400)
    assert v(s, "lookout_marketplace_tokens_expired", marketplace="wb") == 1
    assert v(s, "lookout_marketplace_tokens_expiring", marketplace="wb") == 2  # +10 d and exactly +14 d
    assert v(s, "lookout_marketplace_token_earliest_expiry_timestamp_seconds", marketplace="ozon") is None
    assert v(s, "lookout_marketplace_tokens_expired", marketplace="ozon") == 0
    assert {k for _, labels in s for k, _ in labels} <= {"marketplace", "kind", "threshold"}



# The form of sync_lag before sync_sellers existed: whole-table aggregates, `sellers` included. An override
# written for it keeps working, and gives the same numbers as the index-assisted defaults.
OLD_SYNC_LAG = """
SELECT s.marketplace, s.kind, count(*) AS sellers,
       GREATEST(0, extract(epoch FROM %(now)s - min(COALESCE(s.last_success_at, sl.created_at)))) AS max_lag_seconds,
       count(*) FILTER (WHERE s.consecutive_errors >= %(error_threshold)s) AS erroring_sellers,
       COALESCE(max(s.consecutive_errors), 0) AS max_consecutive_errors
FROM sync_state s
JOIN sellers sl ON sl.id = s.seller_id AND sl.is_active
JOIN seller_marketplace_accounts a ON a.seller_id = s.seller_id AND a.marketplace = s.marketplace AND a.is_active
GROUP BY s.marketplace, s.kind"""


def test_marketplace_sync_override_of_the_whole_table_form_gives_the_same_numbers(chat_dsn):
    ours = make("marketplace_sync", chat_dsn)
    theirs = make("marketplace_sync", chat_dsn, queries={"sync_lag": OLD_SYNC_LAG})
    # generic plans are forced for the default queries only: an override's plan may depend on the values
    assert ours.source.local_settings == {"jit": "off", "plan_cache_mode": "force_generic_plan"}
    assert theirs.source.local_settings == {"jit": "off"}
    assert refresh(ours) == refresh(theirs)
    ours.stop()
    theirs.stop()


def test_marketplace_sync_sellers_counted_once_per_sellers_interval(pg):
    dsn = pg.create_database("pg_chat_sellers", schema("chatcenter"))
    load_chatcenter(dsn)
    c = make("marketplace_sync", dsn, sellers_interval="1h")
    assert v(refresh(c), "lookout_marketplace_sync_sellers", marketplace="wb", kind="feedbacks") == 1
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO sync_state (seller_id, marketplace, kind, last_success_at) "
                     "VALUES (2, 'wb', 'feedbacks', %s)", (NOW - timedelta(hours=3),))
    s = refresh(c)  # the lag and the stale count see the new row at once, the count at the next interval
    assert v(s, "lookout_marketplace_sync_sellers", marketplace="wb", kind="feedbacks") == 1
    assert v(s, "lookout_marketplace_sync_lag_seconds", marketplace="wb", kind="feedbacks") == 3 * 3600
    assert v(s, "lookout_marketplace_sync_stale_sellers", marketplace="wb", kind="feedbacks", threshold="3600") == 1
    c._sellers_at -= 3600
    assert v(refresh(c), "lookout_marketplace_sync_sellers", marketplace="wb", kind="feedbacks") == 2
    c.stop()


def _marketplace_sync_naive(dsn: str, thresholds: list[int], error_threshold: int, horizon: timedelta) -> dict:
    """The published values computed from every row (the bench's naive form)."""
    with psycopg.connect(dsn) as conn:
        return naive_marketplace_sync(conn, NOW, thresholds=thresholds, error_threshold=error_threshold,
                                      horizon=horizon)


@pytest.mark.parametrize("keyed", [True, False], ids=["foreign-key", "no-foreign-key"])
def test_marketplace_sync_index_forms_match_the_naive_form_with_orphans_inactive_stale_and_erroring(pg, keyed):
    """Every published value equals the naive form's, over a mixed population (inactive sellers and accounts,
    never-synced rows, rows exactly at each cutoff, erroring rows below and at the threshold, tokens expired, at
    the horizon, beyond it or without expiry), on the first refreshes and on the later ones (prepared statements,
    generic plans), before and after the data changes. With the reference schema's foreign key from sync_state to
    the accounts (inactive accounts hashed), and without it, where sync_state rows with no account row (orphans)
    must count nowhere (each account probed)."""
    import random

    rnd = random.Random(18)
    dsn = pg.create_database(f"pg_chat_naive_{keyed}".lower(), schema("chatcenter"))
    thresholds = [120, 900, 3600]
    ages = [None, 0, 30, 119, 120, 121, 600, 899, 900, 901, 3599, 3600, 3601, 7200, 86400]
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not keyed:
            conn.execute("ALTER TABLE sync_state DROP CONSTRAINT sync_state_account_fkey")
        for sid in range(1, 241):
            conn.execute("INSERT INTO sellers (id, name, is_active, created_at) VALUES (%s, %s, %s, %s)",
                         (sid, f"shop-{sid}", sid % 7 != 0, NOW - rnd.choice([60, 1000, 5000, 10**6]) * S))
            for m in ("wb", "ozon"):
                account = rnd.random()  # below 0.1: no account row, this seller's sync_state rows for m are orphans
                if account >= 0.1:
                    expiry = rnd.choice([None, -D, 0 * S, S, 10 * D, 14 * D, 14 * D + S, 90 * D])
                    conn.execute(
                        "INSERT INTO seller_marketplace_accounts (seller_id, marketplace, token_expires_at, is_active)"
                        " VALUES (%s, %s, %s, %s)", (sid, m, None if expiry is None else NOW + expiry, account > 0.2))
                elif keyed:  # the foreign key refuses orphans
                    continue
                for k in ("chats", "feedbacks", "questions"):
                    if rnd.random() < 0.15:
                        continue
                    age = rnd.choice(ages)
                    conn.execute(
                        "INSERT INTO sync_state (seller_id, marketplace, kind, last_success_at, consecutive_errors) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        (sid, m, k, None if age is None else NOW - age * S, rnd.choice([0, 0, 0, 1, 2, 3, 4, 9])))
        conn.execute("VACUUM ANALYZE")
    c = make("marketplace_sync", dsn, stale_thresholds=[f"{t}s" for t in thresholds], error_threshold=3,
             token_horizon="14d")
    expected = _marketplace_sync_naive(dsn, thresholds, 3, 14 * D)
    assert expected[("lookout_marketplace_tokens_expiring", (("marketplace", "wb"),))] > 0
    for _ in range(8):  # psycopg prepares a statement at its sixth run; the plans are generic from then on
        assert refresh(c) == expected
    assert c.keyed is keyed
    with psycopg.connect(dsn, autocommit=True) as conn:  # more orphans (or cascaded deletes), inactive accounts
        conn.execute("DELETE FROM seller_marketplace_accounts WHERE seller_id % 11 = 0")
        conn.execute("UPDATE seller_marketplace_accounts SET is_active = NOT is_active WHERE seller_id % 13 = 0")
        conn.execute("UPDATE sync_state SET last_success_at = last_success_at - interval '1 hour', "
                     "consecutive_errors = consecutive_errors + 1 WHERE seller_id % 5 = 0")
    c._sellers_at -= 3600  # count the sellers again
    expected = _marketplace_sync_naive(dsn, thresholds, 3, 14 * D)
    for _ in range(3):
        assert refresh(c) == expected
    theirs = make("marketplace_sync", dsn, stale_thresholds=[f"{t}s" for t in thresholds], error_threshold=3,
                  token_horizon="14d", queries={"sync_lag": OLD_SYNC_LAG})
    assert refresh(theirs) == expected
    c.stop()
    theirs.stop()


def test_marketplace_sync_account_check_follows_the_foreign_key(pg):
    """The hashed form runs only while sync_state has a validated foreign key to the accounts: one added NOT VALID
    does not vouch for the rows already there; a key dropped or added is seen at the next count of the sellers;
    an overriding query is never replaced."""
    dsn = pg.create_database("pg_chat_key", schema("chatcenter"))
    load_chatcenter(dsn)
    c = make("marketplace_sync", dsn)
    theirs = make("marketplace_sync", dsn, queries={"stale_sellers": marketplace_sync.QUERIES["stale_sellers"]})
    expected = refresh(c)
    assert c.keyed is True and c.source.sql["sync_lag"] == marketplace_sync.KEYED_QUERIES["sync_lag"]
    assert refresh(theirs) == expected
    assert theirs.source.sql["stale_sellers"] == marketplace_sync.QUERIES["stale_sellers"]
    assert theirs.source.sql["sync_lag"] == marketplace_sync.KEYED_QUERIES["sync_lag"]
    fkey = ("ALTER TABLE sync_state ADD CONSTRAINT sync_state_account_fkey FOREIGN KEY (seller_id, marketplace) "
            "REFERENCES seller_marketplace_accounts (seller_id, marketplace)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE sync_state DROP CONSTRAINT sync_state_account_fkey")
        conn.execute(fkey + " NOT VALID")
    assert refresh(c) == expected and c.keyed is True  # asked again with the sellers' count only
    c._sellers_at -= 3600
    assert refresh(c) == expected
    assert c.keyed is False and c.source.sql["sync_lag"] == marketplace_sync.QUERIES["sync_lag"]
    with psycopg.connect(dsn, autocommit=True) as conn:  # the key's columns in another order, validated
        conn.execute("ALTER TABLE sync_state DROP CONSTRAINT sync_state_account_fkey")
        conn.execute("ALTER TABLE sync_state ADD FOREIGN KEY (marketplace, seller_id) "
                     "REFERENCES seller_marketplace_accounts (marketplace, seller_id)")
    c._sellers_at -= 3600
    assert refresh(c) == expected and c.keyed is True
    with psycopg.connect(dsn, autocommit=True) as conn:  # the key to the sellers alone does not vouch for the accounts
        conn.execute("ALTER TABLE sync_state DROP CONSTRAINT sync_state_marketplace_seller_id_fkey")
    c._sellers_at -= 3600
    assert refresh(c) == expected and c.keyed is False
    unkeyed = {n: marketplace_sync.QUERIES[n] for n in marketplace_sync.KEYED_QUERIES}
    both = make("marketplace_sync", dsn, queries=unkeyed)
    assert refresh(both) == expected and both.keyed is None  # the catalog is not asked: no form to choose
    for collector in (c, theirs, both):
        collector.stop()


def test_marketplace_sync_error_threshold_below_one_is_refused():
    with pytest.raises(ConfigError, match="error_threshold: expected 1 or more"):
        make("marketplace_sync", "postgresql://x@127.0.0.1/db", error_threshold=0)


def test_sla(chat_dsn):
    c = make("sla", chat_dsn, horizon="30m", escalation_grace="15m")
    s = refresh(c)
    c.stop()
    assert v(s, "lookout_sla_interactions_breached", channel="chat") == 2
    assert v(s, "lookout_sla_interactions_at_risk", channel="chat") == 2  # due now and due exactly now + 30 m
    assert v(s, "lookout_sla_oldest_breach_age_seconds", channel="chat") == 3600
    assert v(s, "lookout_sla_interactions_unescalated", channel="chat") == 1
    # no max_age by default: a month-old breach still counts and sets the oldest age
    assert v(s, "lookout_sla_interactions_breached", channel="feedback") == 3  # 2 d, 30 d and 31 d
    assert v(s, "lookout_sla_interactions_at_risk", channel="feedback") == 0
    assert v(s, "lookout_sla_oldest_breach_age_seconds", channel="feedback") == 31 * 86400
    assert v(s, "lookout_sla_interactions_unescalated", channel="feedback") == 2
    for name in ("lookout_sla_interactions_breached", "lookout_sla_interactions_at_risk",
                 "lookout_sla_oldest_breach_age_seconds"):
        assert v(s, name, channel="question") == 0
    assert v(s, "lookout_sla_horizon_seconds") == 1800


def test_sla_max_age_ignores_older_breaches(chat_dsn):
    c = make("sla", chat_dsn, horizon="30m", max_age="30d", escalation_grace="15m")
    s = refresh(c)
    c.stop()
    assert v(s, "lookout_sla_interactions_breached", channel="feedback") == 2  # 2 d and exactly 30 d
    assert v(s, "lookout_sla_oldest_breach_age_seconds", channel="feedback") == 30 * 86400
    assert v(s, "lookout_sla_interactions_unescalated", channel="feedback") == 1
    assert v(s, "lookout_sla_interactions_breached", channel="chat") == 2


def test_capacity(chat_dsn):
    c = make("capacity", chat_dsn)
    s = refresh(c)
    c.stop()
    assert v(s, "lookout_capacity_usage", resource="active_sellers") == 2  # sellers 1 and 2 (exactly 7 d)
    assert v(s, "lookout_capacity_usage", resource="chats_per_day") == 2  # exactly 24 h ago and 1 h ago
    assert v(s, "lookout_capacity_usage", resource="concurrent_users") == 2  # exactly 5 min ago and 1 s ago
    assert v(s, "lookout_capacity_threshold", resource="active_sellers") == 100
    assert v(s, "lookout_capacity_threshold", resource="chats_per_day") == 10000
    assert v(s, "lookout_capacity_threshold", resource="concurrent_users") == 1000


def test_override_query_and_read_only(chat_dsn):
    c = make("capacity", chat_dsn, queries={"concurrent_users": "SELECT 7 AS value"})
    s = refresh(c)
    assert v(s, "lookout_capacity_usage", resource="concurrent_users") == 7
    c.stop()
    c = make("capacity", chat_dsn, queries={"active_sellers": "DELETE FROM sellers RETURNING 1 AS value"})
    with pytest.raises(QueryError, match=r"query capacity.active_sellers failed: .*read-only transaction"):
        refresh(c)
    c.stop()
    c = make("capacity", chat_dsn, queries={"chats_per_day": "SELECT 1 AS wrong"})
    with pytest.raises(QueryError, match=r"capacity.chats_per_day failed: result has no column 'value'"):
        refresh(c)
    c.stop()


@pytest.mark.parametrize("override", [None, "report"], ids=["no-override", "another-query-overridden"])
def test_default_queries_share_one_pipeline_and_a_failure_names_its_query(chat_dsn, override):
    """A refresh's default queries go in one round trip, read-only and under the timeout, even after an override
    lifted both for the session; an error names the failing query, not the first or the last; the connection
    serves the next refresh."""
    lift = ("SELECT set_config('statement_timeout', '0', false) AS a, "
            "set_config('default_transaction_read_only', 'off', false) AS b")
    c = make("marketplace_sync", chat_dsn, statement_timeout="300ms", queries={override: lift} if override else {})
    source = c.source
    if override:
        source.run(override, params={})
    source.sql.update({"_a": "SELECT current_setting('statement_timeout') AS t, current_setting('jit') AS jit, "
                             "current_setting('transaction_read_only') AS ro",
                       "_b": "SELECT 1 / 0 AS x", "_c": "SELECT 3 AS z", "_slow": "SELECT pg_sleep(5)",
                       "_write": "CREATE TABLE lookout_was_here (x int)"})
    expected = {"_a": [{"t": "300ms", "jit": "off", "ro": "on"}], "_c": [{"z": 3}]}
    assert source.run("_a", "_c", params={}) == expected
    conn = source._conn
    for names, failing, message in [
        (("_a", "_b", "_c"), "_b", "division by zero"),
        (("_a", "_c", "_slow"), "_slow", "canceling statement due to statement timeout"),
        (("_c", "_write"), "_write", "cannot execute CREATE TABLE in a read-only transaction"),
    ]:
        with pytest.raises(QueryError, match=rf"^query marketplace_sync\.{failing} failed: {message}$"):
            source.run(*names, params={})
        assert source._conn is conn  # rolled back, kept: a failed query does not cost a reconnection
    assert source.run("_a", "_c", params={}) == expected
    c.stop()


def test_unknown_query_name_is_a_config_error(tmp_path, chat_dsn):
    cfg = write_config(tmp_path / "c.yaml", {"sla": {"dsn": chat_dsn, "queries": {"sla_stats": "SELECT 1"}}})
    r = run_cli("check", "--config", str(cfg))
    assert r.returncode == 2
    assert "collectors.sla: queries.sla_stats: unknown query (known: sla_status, report)" in r.stderr


def _config(tmp_path, name, dsn, **settings):
    return write_config(tmp_path / f"{name}.yaml", {name: {"dsn": dsn, **settings}})


def _report(kind, cfg):
    r = run_cli("report", kind, "--config", str(cfg), "--at", NOW.isoformat())
    assert r.returncode == 0, r.stderr
    return r.stdout


def _first_column(out, column):
    """Values of ``column`` in the first table of a report."""
    lines = out.split("\n\n")[1].splitlines()
    idx = lines[0].split().index(column)
    return [line.split()[idx] for line in lines[1:]]


def test_report_credits_lists_the_counted_rows(tmp_path, voice_dsn):
    out = _report("credits", _config(tmp_path, "credits", voice_dsn))
    assert "Unreconciled conversations (7 rows, query credits.report)" in out
    # --limit cuts a table visibly: the header says more rows exist
    r = run_cli("report", "credits", "--config", str(_config(tmp_path, "credits", voice_dsn)), "--at",
                NOW.isoformat(), "--limit", "3")
    assert r.returncode == 0, r.stderr
    assert "Unreconciled conversations (first 3 rows, more exist: raise --limit, query credits.report)" in r.stdout
    assert len(_first_column(r.stdout, "reason")) == 3
    # exactly the conversations counted by the metrics, ordered by reason then start
    assert _first_column(out, "conversation_id") == [
        "c11-under", "c09-over", "c04-noend-edge", "c14-noend-known", "c01-noend", "c06-uncharged", "c08-uncharged"
    ]
    line = next(x for x in out.splitlines() if "c09-over" in x)
    assert line.split()[:2] == ["charge_mismatch", "c09-over"]
    assert line.rstrip().endswith(" 102")  # ledger joined on conversation and customer: not 102 + 999
    assert "Customers with a negative balance (2 rows" in out


def test_report_sla_and_sync(tmp_path, chat_dsn):
    out = _report("sla", _config(tmp_path, "sla", chat_dsn))
    # the 31-day breach (ext-7) is listed first: no max_age by default
    assert _first_column(out, "external_id") == ["ext-7", "ext-8", "ext-6", "ext-0", "ext-1", "ext-2", "ext-3"]
    assert _first_column(out, "state") == ["breached"] * 5 + ["at_risk"] * 2
    out = _report("sync", _config(tmp_path, "marketplace_sync", chat_dsn))
    # stale beyond the smallest threshold, erroring, or token expiring within the horizon
    rows = list(zip(_first_column(out, "seller"), _first_column(out, "marketplace"), _first_column(out, "kind"),
                    _first_column(out, "lag_seconds"), strict=True))
    assert rows == [
        ("shop-1", "ozon", "chats", "7200"),  # stale, erroring
        ("shop-2", "wb", "chats", "960"),  # stale, erroring, token expired
        ("shop-5", "wb", "chats", "600"),  # never synced
        ("shop-1", "wb", "questions", "121"),  # stale beyond 120 s, token expiring
        ("shop-1", "wb", "feedbacks", "120"),  # token expiring
        ("shop-1", "wb", "chats", "30"),  # token expiring
        ("shop-3", "wb", "chats", "10"),  # token expiring exactly at the horizon
    ]


def test_report_errors(tmp_path, chat_dsn):
    cfg = _config(tmp_path, "sla", chat_dsn)
    r = run_cli("report", "credits", "--config", str(cfg))
    assert r.returncode == 2 and "collectors.credits: not configured" in r.stderr
    cfg = _config(tmp_path, "sla", chat_dsn, queries={"report": "SELECT nope FROM interactions"})
    r = run_cli("report", "sla", "--config", str(cfg))
    assert r.returncode == 1
    assert 'query sla.report failed: column "nope" does not exist' in r.stderr


def test_connection_errors_name_the_collector_and_hide_the_password(monkeypatch):
    from tests.support.servers import free_port

    # the password comes from the environment: a literal one is a config error
    monkeypatch.setenv("LOOKOUT_TEST_PASSWORD", "hunter2secret")
    c = make("capacity", f"postgresql://lookout:${{LOOKOUT_TEST_PASSWORD}}@127.0.0.1:{free_port()}/x",
             connect_timeout="1s")
    with pytest.raises(QueryError) as err:
        refresh(c)
    c.stop()
    assert re.fullmatch(r"capacity: cannot connect to 127\.0\.0\.1:\d+: connection refused", str(err.value))
    assert "hunter2secret" not in str(err.value) and "\n" not in str(err.value)

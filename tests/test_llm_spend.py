"""llm_spend: incremental true counters priced by the table, late commits, unpriced models, restarts."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from prometheus_client import generate_latest

from lookout.demo.providers import FakeDeepSeek, FakeElevenLabs
from lookout.exporters.collector import Snapshot
from lookout.exporters.collectors.llm_spend import LlmSpendCollector, LlmSpendSettings
from lookout.exporters.config import Duration, Secret
from lookout.exporters.pricing import PriceTable
from lookout.exporters.runtime import Runtime
from lookout.exporters.server import make_registry
from tests.support.exporter import ROOT, exporter, promtool_check_metrics, samples, value, write_config

CHAT_SQL = (ROOT / "exporters" / "schemas" / "chatcenter.sql").read_text()
_db_names = itertools.count()

# Monday 2026-11-16: 02:00 UTC is peak (10:00 Beijing), 05:00 UTC off-peak; Saturday 2026-11-21 off-peak
PEAK, OFF, SAT = "2026-11-16T02:10:00Z", "2026-11-16T05:00:00Z", "2026-11-21T02:10:00Z"


@pytest.fixture
def dsn(pg):
    return pg.create_database(f"llm_spend_{next(_db_names)}", CHAT_SQL)


def insert(conn_or_dsn, rows):
    """rows: (created_at, provider, model, feature, hit, miss, out)."""
    sql = ("INSERT INTO llm_usage (created_at, provider, model, feature, input_cache_hit_tokens, "
           "input_cache_miss_tokens, output_tokens) VALUES (%s, %s, %s, %s, %s, %s, %s)")
    if isinstance(conn_or_dsn, str):
        with psycopg.connect(conn_or_dsn, autocommit=True) as conn:
            conn.cursor().executemany(sql, rows)
    else:
        conn_or_dsn.cursor().executemany(sql, rows)


def collect(c: LlmSpendCollector) -> dict:
    snap = Snapshot(c.metrics)
    c.refresh(snap)
    out = {}
    for fam in snap.families():
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def expected_cost(rows) -> dict[tuple[str, str, str], Decimal]:
    table = PriceTable.load()
    out: dict[tuple[str, str, str], Decimal] = {}
    for at, p, m, f, hit, miss, o in rows:
        cost = table.cost(p, m, datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC), hit, miss, o)
        if cost is not None:
            out[(p, m, f)] = out.get((p, m, f), Decimal(0)) + cost
    return out


def spend(s, p, m, f):
    return value(s, "lookout_llm_spend_usd_total", provider=p, model=m, feature=f)


def test_initial_and_incremental_totals_are_priced(dsn):
    first = [(PEAK, "deepseek", "deepseek-flash", "chat_analysis", 1000, 2000, 300)] * 5 + [
        (OFF, "deepseek", "deepseek-flash", "chat_analysis", 1000, 2000, 300),
        (SAT, "deepseek", "deepseek-v4-flash", "draft_reply", 10, 20, 30),  # retired name, billed as flash
        ("2026-03-01T00:00:00Z", "deepseek", "deepseek-chat", "draft_reply", 100, 100, 100),
    ]
    insert(dsn, first)
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
    s = collect(c)
    for (p, m, f), cost in expected_cost(first).items():
        assert spend(s, p, m, f) == pytest.approx(float(cost), rel=1e-12)
    assert value(s, "lookout_llm_tokens_total", provider="deepseek", model="deepseek-flash",
                 type="input_cache_miss") == 12000
    assert value(s, "lookout_llm_calls_total", provider="deepseek", model="deepseek-flash",
                 feature="chat_analysis") == 6
    assert value(s, "lookout_llm_usage_cursor_id") == 8
    second = [(PEAK, "deepseek", "deepseek-flash", "chat_analysis", 0, 1_000_000, 0)]
    insert(dsn, second)
    s = collect(c)
    total = sum(v for k, v in expected_cost(first + second).items() if k[2] == "chat_analysis")
    assert spend(s, "deepseek", "deepseek-flash", "chat_analysis") == pytest.approx(float(total), rel=1e-12)
    assert value(s, "lookout_llm_usage_cursor_id") == 9
    assert value(s, "lookout_llm_price_table_info", version=PriceTable.load().version) == 1
    c.stop()


def test_unknown_models_are_counted_not_priced(dsn, caplog):
    insert(dsn, [(OFF, "deepseek", "deepseek-v9-mystery", "quality", 5, 6, 7),
                 (OFF, "acme", "acme-1", "quality", 1, 1, 1),
                 ("2026-08-01T00:00:00Z", "deepseek", "deepseek-chat", "quality", 1, 2, 3)])  # after retirement
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
    s = collect(c)
    assert value(s, "lookout_llm_unpriced_calls_total", provider="deepseek", model="deepseek-v9-mystery") == 1
    assert value(s, "lookout_llm_unpriced_tokens_total", provider="deepseek", model="deepseek-v9-mystery",
                 type="output") == 7
    assert value(s, "lookout_llm_unpriced_calls_total", provider="acme", model="acme-1") == 1
    assert value(s, "lookout_llm_unpriced_calls_total", provider="deepseek", model="deepseek-chat") == 1
    assert value(s, "lookout_llm_tokens_total", provider="deepseek", model="deepseek-v9-mystery", type="output") == 7
    assert spend(s, "deepseek", "deepseek-v9-mystery", "quality") is None  # never a silent zero
    assert "deepseek-v9-mystery" in caplog.text
    c.stop()


def test_rows_committed_out_of_id_order_are_counted_once(dsn):
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
    collect(c)
    with psycopg.connect(dsn) as slow:  # a transaction holding the lower id
        insert(slow, [(OFF, "deepseek", "deepseek-flash", "late", 0, 0, 1_000_000)])
        insert(dsn, [(OFF, "deepseek", "deepseek-flash", "early", 0, 0, 1_000_000)])
        s = collect(c)
        assert value(s, "lookout_llm_calls_total", provider="deepseek", model="deepseek-flash", feature="early") == 1
        assert value(s, "lookout_llm_calls_total", provider="deepseek", model="deepseek-flash", feature="late") is None
        assert value(s, "lookout_llm_usage_watched_ids") == 1
        slow.commit()
    s = collect(c)
    assert value(s, "lookout_llm_calls_total", provider="deepseek", model="deepseek-flash", feature="late") == 1
    assert value(s, "lookout_llm_usage_watched_ids") == 0
    s = collect(c)
    assert value(s, "lookout_llm_calls_total", provider="deepseek", model="deepseek-flash", feature="late") == 1
    assert spend(s, "deepseek", "deepseek-flash", "late") == pytest.approx(0.6)
    c.stop()


def test_rolled_back_ids_are_given_up_after_the_window(dsn):
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), late_commit_window=Duration(60)))
    clock = [1000.0]
    c.monotonic = lambda: clock[0]
    collect(c)
    with psycopg.connect(dsn) as conn:
        insert(conn, [(OFF, "deepseek", "deepseek-flash", "x", 1, 1, 1)] * 3)
        conn.rollback()
    insert(dsn, [(OFF, "deepseek", "deepseek-flash", "x", 1, 1, 1)])
    assert value(collect(c), "lookout_llm_usage_watched_ids") == 3
    clock[0] += 61
    assert value(collect(c), "lookout_llm_usage_watched_ids") == 0
    c.stop()


def test_uncommitted_rows_at_start_are_watched(dsn):
    insert(dsn, [(OFF, "deepseek", "deepseek-flash", "a", 1, 1, 1)])
    with psycopg.connect(dsn) as slow:
        insert(slow, [(OFF, "deepseek", "deepseek-flash", "late", 1, 1, 1)])
        insert(dsn, [(OFF, "deepseek", "deepseek-flash", "a", 1, 1, 1)])
        c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
        assert value(collect(c), "lookout_llm_usage_watched_ids") == 1
        slow.commit()
    s = collect(c)
    assert value(s, "lookout_llm_calls_total", provider="deepseek", model="deepseek-flash", feature="late") == 1
    c.stop()


def test_backlog_read_in_batches_and_restart_gives_identical_totals(dsn):
    rows = [(OFF if i % 2 else PEAK, "deepseek", "deepseek-flash", f"f{i % 3}", i, 3 * i + 1, 7 * i) for i in range(40)]
    insert(dsn, rows[:10])
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), batch_rows=7))
    collect(c)
    insert(dsn, rows[10:])
    before = collect(c)
    assert value(before, "lookout_llm_usage_cursor_id") == 40
    restarted = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
    after = collect(restarted)
    counters = {k: v for k, v in before.items() if k[0].endswith("_total")}
    assert counters and all(after[k] == v for k, v in counters.items())  # exactly equal, not approximately
    c.stop()
    restarted.stop()


def test_label_values_are_bounded(dsn):
    insert(dsn, [(OFF, "deepseek", f"model-{i}", f"feature-{i}", 1, 1, 1) for i in range(6)]
           + [(OFF, "deepseek", "deepseek-flash", "feature-0", 1, 1, 1)])
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), max_label_values=3))
    s = collect(c)
    models = {dict(k[1])["model"] for k in s if k[0] == "lookout_llm_calls_total"}
    features = {dict(k[1])["feature"] for k in s if k[0] == "lookout_llm_calls_total"}
    assert models == {"model-0", "model-1", "model-2", "other", "deepseek-flash"}  # known models always kept
    assert features == {"feature-0", "feature-1", "feature-2", "other"}
    assert sum(v for k, v in s.items() if k[0] == "lookout_llm_calls_total") == 7
    c.stop()


def test_capped_labels_survive_a_restart_in_first_seen_order(dsn):
    # names arrive in an order that differs from their sort order: after a restart, the same names keep their
    # own series and `other` does not drop (a counter reset to rate())
    insert(dsn, [(OFF, "deepseek", f"model-{i}", "f", 1, 1, 1) for i in (5, 4, 3)])
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), max_label_values=2))
    collect(c)
    insert(dsn, [(OFF, "deepseek", f"model-{i}", "f", 1, 1, 1) for i in (1, 5, 0)])
    before = collect(c)
    restarted = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), max_label_values=2))
    after = collect(restarted)
    calls = {k: v for k, v in before.items() if k[0] == "lookout_llm_calls_total"}
    assert {dict(k[1])["model"] for k in calls} == {"model-5", "model-4", "other"}
    assert {k: v for k, v in after.items() if k[0] == "lookout_llm_calls_total"} == calls
    c.stop()
    restarted.stop()


def test_query_override_for_another_schema(pg):
    dsn = pg.create_database(f"llm_spend_{next(_db_names)}", """
        CREATE TABLE ai_calls (call_id bigserial PRIMARY KEY, at timestamptz NOT NULL, vendor text, llm text,
                               purpose text, cached int, uncached int, completion int);
        INSERT INTO ai_calls (at, vendor, llm, purpose, cached, uncached, completion)
        VALUES ('2026-11-16T05:00:00Z', 'deepseek', 'deepseek-flash', 'summaries', 0, 1000000, 0);""")
    query = ("SELECT call_id AS id, at AS created_at, vendor AS provider, llm AS model, purpose AS feature, "
             "cached AS input_cache_hit_tokens, uncached AS input_cache_miss_tokens, completion AS output_tokens "
             "FROM ai_calls")
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), queries={"usage": query}))
    assert spend(collect(c), "deepseek", "deepseek-flash", "summaries") == pytest.approx(0.15)
    c.stop()


def test_database_down_keeps_counters(dsn):
    insert(dsn, [(OFF, "deepseek", "deepseek-flash", "a", 0, 0, 1_000_000)])
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
    rt = Runtime([c])
    assert rt.refresh_all_once() == {"llm_spend": True}
    c.source.sql["incremental"] = "SELECT * FROM no_such_table"
    assert rt.refresh_all_once() == {"llm_spend": False}
    s = samples(generate_latest(make_registry(rt)).decode())
    assert spend(s, "deepseek", "deepseek-flash", "a") == pytest.approx(0.6)
    assert value(s, "lookout_llm_usage_cursor_id") is None  # gauges dropped while failing
    c.stop()


def test_exporter_restart_counters_monotonic_and_promtool_clean(dsn, tmp_path):
    """The real exporter with all four collectors: valid exposition, and no counter goes back across a restart."""
    insert(dsn, [(PEAK, "deepseek", "deepseek-flash", "chat_analysis", 100, 200, 300)] * 20)
    with FakeDeepSeek(api_key="sk-e2e-key") as ds, FakeElevenLabs(api_key="xi-e2e-key") as el:
        ds.set_balance("CNY", total="50.00")
        el.add_conversation("conv_e2e", start_time_unix_secs=1)
        cfg = write_config(tmp_path / "lookout.yaml", {
            "llm_spend": {"dsn": dsn, "interval": "0.3s"},
            "deepseek": {"api_key": "${TEST_DEEPSEEK_KEY}", "base_url": ds.url, "interval": "1s"},
            "elevenlabs": {"api_key": "${TEST_ELEVENLABS_KEY}", "base_url": el.url, "interval": "1s",
                           "conversations": {"dsn": dsn}},
            "tokens": {"tokens": [{"name": "wb", "value": "${TEST_WB_TOKEN}"}]},
        })
        env = {"TEST_DEEPSEEK_KEY": "sk-e2e-key", "TEST_ELEVENLABS_KEY": "xi-e2e-key",
               "TEST_WB_TOKEN": "a.eyJleHAiOjE3OTAwMDAwMDB9.b"}
        labels = {"provider": "deepseek", "model": "deepseek-flash", "feature": "chat_analysis"}

        def calls(s):
            return value(s, "lookout_llm_calls_total", **labels) or 0

        with exporter(cfg, env) as exp:
            exp.wait_for(lambda s: calls(s) == 20 and value(s, "lookout_llm_provider_balance", provider="deepseek",
                                                              currency="CNY") == 50)
            insert(dsn, [(PEAK, "deepseek", "deepseek-flash", "chat_analysis", 100, 200, 300)] * 5)
            s1 = exp.wait_for(lambda s: calls(s) == 25)
            text = exp.metrics()
            assert promtool_check_metrics(text) == ""
            assert "sk-e2e-key" not in text and "xi-e2e-key" not in text
            assert s1[("lookout_api_token_expiry_timestamp_seconds", (("name", "wb"),))] == 1_790_000_000
            log = exp.log()
        assert "sk-e2e-key" not in log
        insert(dsn, [(PEAK, "deepseek", "deepseek-flash", "chat_analysis", 100, 200, 300)] * 3)
        with exporter(cfg, env) as exp:
            # the first refreshes after a restart race: wait for elevenlabs' too, not only llm_spend's
            s2 = exp.wait_for(lambda s: calls(s) == 28
                              and value(s, "lookout_collector_up", collector="elevenlabs") == 1)
            assert value(s2, "lookout_elevenlabs_conversations_missing_end_event") == 0  # the only conversation is old
    table_counters = ("lookout_llm_tokens_total", "lookout_llm_spend_usd_total",
                      "lookout_llm_calls_total")  # recomputed from the table
    checked = [k for k in s1 if k[0] in table_counters]
    assert len(checked) == 5
    for key in checked:
        assert s2[key] >= s1[key], key
    cost = expected_cost([(PEAK, "deepseek", "deepseek-flash", "chat_analysis", 100, 200, 300)] * 28)
    assert spend(s2, *labels.values()) == pytest.approx(float(cost[tuple(labels.values())]), rel=1e-12)


# -- the local checkpoint: a restart reads only what is new, and never trusts a file it did not write -----------

ROWS = [(OFF if i % 2 else PEAK, "deepseek", "deepseek-flash" if i % 3 else "mystery-model", f"f{i % 3}", i,
         2 * i, 3 * i) for i in range(30)]


def counters(s: dict) -> dict:
    return {k: v for k, v in s.items()
            if k[0].endswith("_total") and not k[0].startswith("lookout_llm_usage_checkpoint")}


def test_restart_from_checkpoint_gives_identical_totals(dsn, tmp_path):
    path = str(tmp_path / "llm.checkpoint")
    insert(dsn, ROWS[:10])
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path, max_label_values=2))
    collect(c)
    with psycopg.connect(dsn) as slow:  # an id still uncommitted when the checkpoint is written
        insert(slow, [(OFF, "deepseek", "deepseek-flash", "late", 5, 5, 5)])
        insert(dsn, ROWS[10:20])
        assert value(collect(c), "lookout_llm_usage_watched_ids") == 1
        c.stop()
        slow.commit()
    insert(dsn, ROWS[20:])  # while the exporter is down
    restarted = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path, max_label_values=2))
    fresh = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), max_label_values=2))
    after, full = collect(restarted), collect(fresh)
    loaded = "lookout_llm_usage_checkpoint_loaded"
    assert value(after, loaded) == 1 and value(full, loaded) == 0
    assert counters(after) and counters(after) == counters(full)  # exactly equal, the late row included
    assert sum(v for k, v in after.items() if k[0] == "lookout_llm_calls_total") == 31
    assert value(after, "lookout_llm_usage_cursor_id") == value(full, "lookout_llm_usage_cursor_id") == 31
    assert value(after, "lookout_llm_usage_watched_ids") == 0
    restarted.stop()
    fresh.stop()


def rejected(s: dict, reason: str) -> float | None:
    return value(s, "lookout_llm_usage_checkpoint_rejected_total", reason=reason)


@pytest.mark.parametrize("content,reason", [
    (b"\x00not json{", "corrupt"),
    (b'{"format": "lookout-llm-spend-checkpoint-1", "identity": "x"}', "foreign"),
    (b"[1, 2, 3]", "foreign"),
    (b" " * (8 * 1024 * 1024 + 1), "oversized"),
])
def test_hostile_checkpoint_is_ignored_with_one_log_line(dsn, tmp_path, caplog, content, reason):
    path = tmp_path / "llm.checkpoint"
    path.write_bytes(content)
    insert(dsn, ROWS)
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=str(path)))
    fresh = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
    s = collect(c)
    assert counters(s) == counters(collect(fresh))
    assert rejected(s, reason) == 1 and value(s, "lookout_llm_usage_checkpoint_loaded") == 0
    assert len([r for r in caplog.records if "checkpoint" in r.getMessage()]) == 1
    # then replaced by a good one
    restarted = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=str(path)))
    assert value(collect(restarted), "lookout_llm_usage_checkpoint_loaded") == 1
    for x in (c, fresh, restarted):
        x.stop()


@pytest.mark.parametrize("damage", [
    lambda d: d["series"][0].__setitem__(3, "many"),
    lambda d: d.__setitem__("labels", ["not", "a", "mapping"]),
    lambda d: d["priced"][0].__setitem__(3, ["NaN", "1", "1"]),
    lambda d: d.__setitem__("watched", [[1]]),
    lambda d: d.__setitem__("cursor", -5),
    lambda d: d.pop("series"),
], ids=["count-type", "labels", "nan-price", "watched", "cursor", "missing-key"])
def test_checkpoint_with_wrong_content_inside_is_ignored(dsn, tmp_path, damage):
    path = str(tmp_path / "llm.checkpoint")
    insert(dsn, ROWS)
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path))
    before = collect(c)
    c.stop()
    data = json.loads(Path(path).read_text())
    damage(data)
    Path(path).write_text(json.dumps(data))
    restarted = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path))
    after = collect(restarted)
    assert rejected(after, "corrupt") == 1 and counters(after) == counters(before)
    restarted.stop()


def test_checkpoint_of_another_database_is_foreign(pg, dsn, tmp_path):
    path = str(tmp_path / "llm.checkpoint")
    insert(dsn, ROWS)
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path))
    collect(c)
    c.stop()
    other = pg.create_database(f"llm_spend_{next(_db_names)}", CHAT_SQL)
    insert(other, ROWS[:3])
    o = LlmSpendCollector(LlmSpendSettings(dsn=Secret(other), checkpoint_path=path))
    s = collect(o)
    assert rejected(s, "foreign") == 1 and value(s, "lookout_llm_calls_total", provider="deepseek",
                                                 model="deepseek-flash",
                                                 feature="f1") == 1
    o.stop()


def test_database_changed_under_the_checkpoint(dsn, tmp_path):
    """A restore or a re-created table with the same ids: the checkpoint's rows differ, the table is aggregated."""
    path = str(tmp_path / "llm.checkpoint")
    insert(dsn, ROWS)
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path))
    collect(c)
    c.stop()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE llm_usage RESTART IDENTITY")
    insert(dsn, [(OFF, "deepseek", "deepseek-flash", "other-data", 1, 1, 1)] * 40)
    restarted = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path))
    s = collect(restarted)
    assert rejected(s, "changed") == 1 and value(s, "lookout_llm_usage_checkpoint_loaded") == 0
    assert {k: v for k, v in s.items() if k[0] == "lookout_llm_calls_total"} == {
        ("lookout_llm_calls_total", (("feature", "other-data"), ("model", "deepseek-flash"), ("provider",
                                                                                              "deepseek"))): 40}
    restarted.stop()


def test_unwritable_checkpoint_is_a_metric(dsn, tmp_path):
    insert(dsn, ROWS[:2])
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=str(tmp_path / "missing-dir" / "x")))
    s = collect(c)
    assert rejected(s, "write") == 1 and value(s, "lookout_llm_calls_total", provider="deepseek",
                                               model="deepseek-flash",
                                               feature="f1") == 1
    c.stop()


def test_skipped_ids_beyond_the_cap_flag_a_lower_bound(dsn):
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), max_watched_ids=2, late_commit_window=Duration(60)))
    clock = [5000.0]
    c.wall = lambda: clock[0]
    insert(dsn, ROWS[:1])
    assert value(collect(c), "lookout_llm_usage_totals_lower_bound") == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT setval('llm_usage_id_seq', 20)")
    insert(dsn, ROWS[:1])
    assert value(collect(c), "lookout_llm_usage_watched_ids") == 2
    assert value(collect(c), "lookout_llm_usage_totals_lower_bound") == 1
    clock[0] += 61  # past the window: the unwatched ids are given up like the watched ones
    assert value(collect(c), "lookout_llm_usage_totals_lower_bound") == 0
    c.stop()


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo"])
def test_checkpoint_that_is_not_a_regular_file_is_ignored(dsn, tmp_path, kind):
    path = tmp_path / "llm.checkpoint"
    if kind == "symlink":
        (tmp_path / "elsewhere").write_text("{}")
        path.symlink_to(tmp_path / "elsewhere")
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    insert(dsn, ROWS[:3])
    c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=str(path)))
    s = collect(c)  # never blocks on a FIFO, never follows the link
    assert rejected(s, "corrupt") == 1 and value(s, "lookout_llm_usage_checkpoint_loaded") == 0
    assert sum(v for k, v in s.items() if k[0] == "lookout_llm_calls_total") == 3
    c.stop()

"""The elevenlabs collector: subscription quota, and missed end webhooks cross-checked with the voice database."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from prometheus_client import generate_latest

from lookout.demo.providers import FakeElevenLabs
from lookout.exporters.collectors.elevenlabs import ConversationCheck, ElevenLabsCollector, ElevenLabsSettings
from lookout.exporters.config import Duration, Secret
from lookout.exporters.runtime import Runtime
from lookout.exporters.server import make_registry
from tests.support.exporter import ROOT, promtool_check_metrics, samples, value

KEY = "xi-elevenlabs-test-key"
VOICE_SQL = (ROOT / "exporters" / "schemas" / "voice.sql").read_text()


@pytest.fixture
def fake():
    with FakeElevenLabs(api_key=KEY) as f:
        yield f


@pytest.fixture(scope="module")
def voice_dsn(pg):
    return pg.create_database("llm_elevenlabs_voice", VOICE_SQL)


def make(fake, check: ConversationCheck | None = None):
    s = ElevenLabsSettings(api_key=Secret(KEY), base_url=fake.url, read_timeout=Duration(1), retries=1,
                 retry_after_cap=Duration(1), conversations=check)
    c = ElevenLabsCollector(s)
    c.client.backoff = 0.05
    return c, Runtime([c])


def scrape(rt):
    text = generate_latest(make_registry(rt)).decode()
    return text, samples(text)


def record(dsn: str, rows: list[tuple[str, bool]]) -> None:
    """Insert platform conversations: (conversation_id, ended)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO customer_agents (customer_id, elevenlabs_agent_id, name) VALUES (1, 'agent_demo', "
                     "'Demo') ON CONFLICT (elevenlabs_agent_id) DO NOTHING")
        agent = conn.execute("SELECT id FROM customer_agents WHERE elevenlabs_agent_id = 'agent_demo'").fetchone()[0]
        for cid, ended in rows:
            conn.execute(
                "INSERT INTO conversations (conversation_id, customer_id, agent_id, started_at, ended_at, status) "
                "VALUES (%s, 1, %s, now() - interval '1 hour', CASE WHEN %s THEN now() END, "
                "CASE WHEN %s THEN 'done' ELSE 'in_progress' END)",
                (cid, agent, ended, ended),
            )


def test_subscription_metrics(fake):
    fake.set_subscription(character_count=95_000, character_limit=100_000, status="past_due", tier="creator",
                          next_character_count_reset_unix=1_800_000_000)
    _c, rt = make(fake)
    assert rt.refresh_all_once() == {"elevenlabs": True}
    text, s = scrape(rt)
    assert value(s, "lookout_elevenlabs_subscription_characters_used") == 95_000
    assert value(s, "lookout_elevenlabs_subscription_characters_limit") == 100_000
    assert value(s, "lookout_elevenlabs_subscription_next_reset_timestamp_seconds") == 1_800_000_000
    assert value(s, "lookout_elevenlabs_subscription_info", tier="creator", status="past_due") == 1
    assert value(s, "lookout_llm_provider_api_up", provider="elevenlabs") == 1
    assert value(s, "lookout_elevenlabs_conversations_missing_end_event") is None  # cross-check not configured
    assert promtool_check_metrics(text) == ""
    assert KEY not in text


def test_missing_end_events_across_pages(fake, voice_dsn):
    now = int(time.time())
    recorded, lost = [], []
    for i in range(23):
        cid = fake.add_conversation(f"conv_page_{i:02d}", start_time_unix_secs=now - 3000 + i * 10,
                                    call_duration_secs=120)
        (lost if i % 4 == 0 else recorded).append(cid)
    fake.add_conversation("conv_too_recent", start_time_unix_secs=now - 200, call_duration_secs=60)  # in grace
    fake.add_conversation("conv_running", start_time_unix_secs=now - 2000, status="in-progress")
    fake.add_conversation("conv_old", start_time_unix_secs=now - 20_000)  # outside the look-back window
    record(voice_dsn, [(cid, True) for cid in recorded] + [(lost[0], False)])  # one row never got its end event
    fake.set_page_size_cap(5)
    check = ConversationCheck(dsn=Secret(voice_dsn), lookback=Duration(3600), grace=Duration(600))
    _c, rt = make(fake, check)
    assert rt.refresh_all_once() == {"elevenlabs": True}, rt.health()
    text, s = scrape(rt)
    assert value(s, "lookout_elevenlabs_conversations_finished") == 23
    assert value(s, "lookout_elevenlabs_conversations_missing_end_event") == len(lost) == 6
    assert value(s, "lookout_elevenlabs_conversations_listing_truncated") == 0
    assert fake.request_count("/v1/convai/conversations") == 5  # 25 in the window, 5 a page
    assert promtool_check_metrics(text) == ""


def test_listing_truncated_and_errors(fake, voice_dsn):
    now = int(time.time())
    for i in range(12):
        fake.add_conversation(f"conv_trunc_{i}", start_time_unix_secs=now - 3000 + i, call_duration_secs=10)
    fake.set_page_size_cap(5)
    check = ConversationCheck(dsn=Secret(voice_dsn), lookback=Duration(3600), grace=Duration(60), max_pages=2)
    c, rt = make(fake, check)
    rt.refresh_all_once()
    _, s = scrape(rt)
    assert value(s, "lookout_elevenlabs_conversations_listing_truncated") == 1
    assert value(s, "lookout_elevenlabs_conversations_finished") == 10
    # the conversation listing answers 500: the subscription is still published, the cross-check is not
    fake.set_mode("500", paths=["/v1/convai"], retry_after=0)
    assert rt.refresh_all_once() == {"elevenlabs": True}
    _, s = scrape(rt)
    assert value(s, "lookout_elevenlabs_subscription_characters_used") is not None
    assert value(s, "lookout_elevenlabs_conversations_missing_end_event") is None
    assert value(s, "lookout_llm_provider_api_up", provider="elevenlabs") == 0
    assert value(s, "lookout_llm_provider_api_last_status_code", provider="elevenlabs") == 500
    # a malformed page fails the refresh
    fake.set_mode("malformed", paths=["/v1/convai"])
    assert rt.refresh_all_once() == {"elevenlabs": False}
    c.stop()


def test_database_down_fails_the_refresh_without_leaking_the_dsn(fake):
    fake.add_conversation("conv_db_down", start_time_unix_secs=int(time.time()) - 3000)
    dsn = "postgresql://lookout:hunter2secret@127.0.0.1:1/voice"
    check = ConversationCheck(dsn=Secret(dsn), connect_timeout=Duration(1))
    _c, rt = make(fake, check)
    assert rt.refresh_all_once() == {"elevenlabs": False}
    assert "hunter2secret" not in rt.health()["elevenlabs"]["last_error"]


def test_example_config_loads(tmp_path, monkeypatch):
    from lookout.exporters import config

    monkeypatch.setenv("ELEVENLABS_API_KEY", "x" * 10)
    monkeypatch.setenv("VOICE_DATABASE_URL", "postgresql://u@h/db")
    p = Path(tmp_path / "c.yaml")
    p.write_text("collectors:\n" + "\n".join("  " + line for line in ElevenLabsCollector.example.strip().splitlines()))
    cfg = config.load(p)
    assert cfg.collectors["elevenlabs"].conversations.lookback == 7200

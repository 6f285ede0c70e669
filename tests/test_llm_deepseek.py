"""The deepseek collector against the fake DeepSeek: balances per currency, 401/402/429/5xx, slow, malformed."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from lookout.demo.providers import FakeDeepSeek
from lookout.exporters.collectors.deepseek import BalanceError, DeepSeekCollector, DeepSeekSettings, parse_balance
from lookout.exporters.config import Duration, Secret
from lookout.exporters.runtime import Runtime
from lookout.exporters.server import make_registry
from tests.support.exporter import promtool_check_metrics, samples, value

KEY = "sk-deepseek-test-key"


@pytest.fixture
def fake():
    with FakeDeepSeek(api_key=KEY) as f:
        yield f


def make(fake, **kw):
    s = DeepSeekSettings(api_key=Secret(KEY), base_url=fake.url, read_timeout=Duration(0.5), retries=1,
                 retry_after_cap=Duration(1), **kw)
    c = DeepSeekCollector(s)
    c.client.backoff = 0.05
    return c, Runtime([c])


def scrape(rt):
    text = generate_latest(make_registry(rt)).decode()
    return text, samples(text)


def test_balances_in_several_currencies(fake):
    fake.set_balance("CNY", total="72.50", granted="0")
    fake.set_balance("USD", total="3.25", granted="1.00")
    _c, rt = make(fake)
    assert rt.refresh_all_once() == {"deepseek": True}
    text, s = scrape(rt)
    assert value(s, "lookout_llm_provider_balance", provider="deepseek", currency="CNY") == 72.5
    assert value(s, "lookout_llm_provider_balance", provider="deepseek", currency="USD") == 3.25
    assert value(s, "lookout_llm_provider_balance_available", provider="deepseek") == 1
    assert value(s, "lookout_llm_provider_api_up", provider="deepseek") == 1
    assert value(s, "lookout_llm_provider_api_last_status_code", provider="deepseek") == 200
    assert value(s, "lookout_llm_provider_api_responses_total", provider="deepseek", code="200") == 1
    assert promtool_check_metrics(text) == ""
    assert KEY not in text


def test_empty_balance_is_not_available(fake):
    fake.set_balance("USD", total="0.00")
    _c, rt = make(fake)
    rt.refresh_all_once()
    _, s = scrape(rt)
    assert value(s, "lookout_llm_provider_balance", provider="deepseek", currency="USD") == 0
    assert value(s, "lookout_llm_provider_balance_available", provider="deepseek") == 0


@pytest.mark.parametrize("code", [401, 402, 429, 500, 503])
def test_http_errors_are_visible_while_the_collector_is_up(fake, code):
    fake.set_mode(str(code), retry_after=0)
    _c, rt = make(fake)
    assert rt.refresh_all_once() == {"deepseek": True}
    text, s = scrape(rt)
    assert value(s, "lookout_collector_up", collector="deepseek") == 1
    assert value(s, "lookout_llm_provider_api_up", provider="deepseek") == 0
    assert value(s, "lookout_llm_provider_api_last_status_code", provider="deepseek") == code
    assert value(s, "lookout_llm_provider_balance", provider="deepseek", currency="USD") is None  # unknown, not stale
    # 402 Insufficient Balance says the balance is unavailable; other errors say nothing about it
    assert value(s, "lookout_llm_provider_balance_available", provider="deepseek") == (0 if code == 402 else None)
    assert promtool_check_metrics(text) == ""
    fake.set_mode("ok")
    rt.refresh_all_once()
    _, s = scrape(rt)
    assert value(s, "lookout_llm_provider_api_up", provider="deepseek") == 1
    assert value(s, "lookout_llm_provider_api_responses_total", provider="deepseek", code=str(code)) == 1


def test_429_then_success_within_one_refresh(fake):
    fake.set_mode("429", retry_after=0, count=1)
    _c, rt = make(fake)
    rt.refresh_all_once()
    _, s = scrape(rt)
    assert value(s, "lookout_llm_provider_api_up", provider="deepseek") == 1
    assert fake.request_count("/user/balance") == 2


@pytest.mark.parametrize("mode", ["slow", "malformed"])
def test_slow_or_malformed_answer_fails_the_refresh(fake, mode):
    fake.set_mode(mode, delay=3)
    _c, rt = make(fake)
    assert rt.refresh_all_once() == {"deepseek": False}
    _, s = scrape(rt)
    assert value(s, "lookout_collector_up", collector="deepseek") == 0
    assert value(s, "lookout_llm_provider_balance", provider="deepseek", currency="USD") is None
    assert KEY not in rt.health()["deepseek"]["last_error"]


def test_parse_balance_rejects_wrong_shapes():
    assert parse_balance({"is_available": True, "balance_infos": []}) == (True, {})
    for bad in ([], {"balance_infos": []}, {"is_available": True, "balance_infos": [{"currency": "USD"}]},
                {"is_available": True, "balance_infos": [{"currency": "US D", "total_balance": "1"}]}):
        with pytest.raises(BalanceError):
            parse_balance(bad)


def test_long_retry_after_is_a_counted_failure_with_the_wait_published(fake, caplog):
    caplog.set_level("INFO")
    fake.set_mode("429", retry_after=999999999)  # 31 years: honoured for retry_after_max at most
    c, rt = make(fake, retry_after_max=Duration(3600))
    for n in (1, 2, 3):
        assert rt.refresh_all_once() == {"deepseek": False}
        text, s = scrape(rt)
        assert value(s, "lookout_collector_up", collector="deepseek") == 0
        assert value(s, "lookout_collector_errors_total", collector="deepseek") == n
        assert value(s, "lookout_llm_provider_api_last_status_code", provider="deepseek") == 429
        assert 3500 < value(s, "lookout_llm_provider_api_retry_after_seconds", provider="deepseek") <= 3600
        assert promtool_check_metrics(text) == ""
    assert fake.request_count("/user/balance") == 1  # the later refreshes did not call
    assert "throttled" in rt.health()["deepseek"]["last_error"]
    # the wait is over: called again, recovered, the gauge back to 0; one log line per change of state
    fake.set_mode("ok")
    c.client.blocked_until = 0.0
    assert rt.refresh_all_once() == {"deepseek": True}
    _, s = scrape(rt)
    assert value(s, "lookout_llm_provider_api_retry_after_seconds", provider="deepseek") == 0
    msgs = [r.getMessage() for r in caplog.records if r.name == "lookout.exporters.runtime"]
    assert sum("failed" in m for m in msgs) == 1 and sum("recovered" in m for m in msgs) == 1, msgs


@pytest.mark.parametrize(("key", "why"), [("sk-ключ", "outside Latin-1"), ("sk-a\nb", "control character")])
def test_unsendable_key_is_refused_at_check(tmp_path, key, why):
    from tests.support.exporter import run_cli, write_config

    path = write_config(tmp_path / "c.yaml", {"deepseek": {"api_key": "${DS_KEY}"}})
    r = run_cli("check", "--config", str(path), env={"DS_KEY": key})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and why in r.stderr and "Traceback" not in r.stderr
    assert key.strip() not in r.stderr and "ключ" not in r.stderr


@pytest.mark.parametrize(("url", "extra", "ok"), [
    ("http://api.example.com", {}, False),
    ("http://api.example.com", {"allow_http": True}, True),
    ("http://127.0.0.1:5592", {}, True),
    ("http://[::1]:5592", {}, True),
    ("https://api.example.com", {}, True),
    ("ftp://api.example.com", {}, False),
    ("https://u:pw@api.example.com", {}, False),
])
def test_plain_http_only_to_loopback_unless_allowed(tmp_path, url, extra, ok):
    from tests.support.exporter import run_cli, write_config

    path = write_config(tmp_path / "c.yaml", {"deepseek": {"api_key": "${DS_KEY}", "base_url": url, **extra}})
    r = run_cli("check", "--config", str(path), env={"DS_KEY": "sk-x"})
    assert r.returncode == (0 if ok else 2), (r.stdout, r.stderr)
    if not ok:
        assert len(r.stderr.strip().splitlines()) == 1 and "base_url" in r.stderr
        assert "pw" not in r.stderr

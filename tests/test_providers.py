"""The fake DeepSeek and ElevenLabs servers (demo/providers/): documented payloads and failure modes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from lookout.demo.providers import FakeDeepSeek, FakeElevenLabs
from tests.support.exporter import ROOT
from tests.support.servers import free_port, wait_port

DS_AUTH = {"Authorization": "Bearer sk-test"}
EL_AUTH = {"xi-api-key": "xi-test"}


@pytest.fixture
def ds():
    with FakeDeepSeek(api_key="sk-test") as fake:
        yield fake


@pytest.fixture
def el():
    with FakeElevenLabs(api_key="xi-test") as fake:
        yield fake


def test_deepseek_balance_several_currencies(ds):
    ds.set_balance("CNY", total="110.00", granted="10.00")
    body = requests.get(ds.url + "/user/balance", headers=DS_AUTH, timeout=5).json()
    assert body["is_available"] is True
    by_currency = {b["currency"]: b for b in body["balance_infos"]}
    assert by_currency["CNY"] == {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00",
                                  "topped_up_balance": "100.00"}
    assert set(by_currency) == {"USD", "CNY"}
    assert all(isinstance(v, str) for b in body["balance_infos"] for k, v in b.items())


def test_deepseek_auth_and_402_when_empty(ds):
    assert requests.get(ds.url + "/user/balance", timeout=5).status_code == 401
    bad = requests.get(ds.url + "/user/balance", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["error"]["type"] == "authentication_error"
    ds.set_balance("USD", total="0")
    body = requests.get(ds.url + "/user/balance", headers=DS_AUTH, timeout=5).json()
    assert body["is_available"] is False
    r = requests.post(ds.url + "/chat/completions", headers=DS_AUTH, timeout=5,
                      json={"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 402 and r.json()["error"]["message"] == "Insufficient Balance"


def test_deepseek_chat_usage_and_cache_hits(ds):
    messages = [{"role": "system", "content": "You are terse. " * 40}, {"role": "user", "content": "hello"}]
    first = requests.post(ds.url + "/v1/chat/completions", headers=DS_AUTH, timeout=5,
                          json={"model": "deepseek-chat", "messages": messages}).json()
    u = first["usage"]
    assert u["prompt_cache_hit_tokens"] == 0
    assert u["prompt_cache_hit_tokens"] + u["prompt_cache_miss_tokens"] == u["prompt_tokens"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    messages.append({"role": "user", "content": "again"})
    second = requests.post(ds.url + "/chat/completions", headers=DS_AUTH, timeout=5,
                           json={"model": "deepseek-chat", "messages": messages}).json()["usage"]
    assert second["prompt_cache_hit_tokens"] > 0 and second["prompt_cache_hit_tokens"] % 64 == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == second["prompt_cache_hit_tokens"]
    assert float(ds.balances()["USD"]["total"]) <= 110.0
    unknown = requests.post(ds.url + "/chat/completions", headers=DS_AUTH, timeout=5,
                            json={"model": "gpt-9", "messages": messages})
    assert unknown.status_code == 400


@pytest.mark.parametrize("code", [401, 402, 500, 503])
def test_error_modes(ds, code):
    ds.set_mode(str(code), retry_after=None)
    r = requests.get(ds.url + "/user/balance", headers=DS_AUTH, timeout=5)
    assert r.status_code == code and "error" in r.json() and "Retry-After" not in r.headers


def test_429_with_retry_after_for_next_requests_only(el):
    el.set_mode("429", retry_after=7, count=2)
    for _ in range(2):
        r = requests.get(el.url + "/v1/user/subscription", headers=EL_AUTH, timeout=5)
        assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert requests.get(el.url + "/v1/user/subscription", headers=EL_AUTH, timeout=5).status_code == 200
    assert el.mode == "ok"


def test_mode_limited_to_paths(el):
    el.set_mode("500", paths=["/v1/convai"])
    assert requests.get(el.url + "/v1/user/subscription", headers=EL_AUTH, timeout=5).status_code == 200
    assert requests.get(el.url + "/v1/convai/conversations", headers=EL_AUTH, timeout=5).status_code == 500


def test_slow_and_malformed(ds):
    ds.set_mode("slow", delay=3)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(ds.url + "/user/balance", headers=DS_AUTH, timeout=(2, 0.3))
    assert time.monotonic() - started < 2.5
    ds.set_mode("malformed")
    r = requests.get(ds.url + "/user/balance", headers=DS_AUTH, timeout=5)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_elevenlabs_subscription(el):
    el.set_subscription(character_count=95_000, status="past_due")
    body = requests.get(el.url + "/v1/user/subscription", headers=EL_AUTH, timeout=5).json()
    assert body["character_count"] == 95_000 and body["character_limit"] == 100_000
    assert body["status"] == "past_due" and isinstance(body["next_character_count_reset_unix"], int)
    assert requests.get(el.url + "/v1/user/subscription", timeout=5).json()["detail"]["status"] == "invalid_api_key"


def test_elevenlabs_pagination_is_stable_and_filtered(el):
    now = int(time.time())
    ids = [el.add_conversation(start_time_unix_secs=now - 600 + i // 3, call_duration_secs=30) for i in range(25)]
    el.add_conversation(start_time_unix_secs=now - 90_000)  # outside the filter below
    el.set_page_size_cap(4)
    seen, pages, params = [], 0, {"page_size": 100, "call_start_after_unix": now - 3600}
    while True:
        body = requests.get(el.url + "/v1/convai/conversations", headers=EL_AUTH, params=params, timeout=5).json()
        pages += 1
        seen += [c["conversation_id"] for c in body["conversations"]]
        if pages == 2:  # a conversation arriving mid-listing must not shift the pages
            el.add_conversation(start_time_unix_secs=now)
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        params["cursor"] = body["next_cursor"]
    assert pages == 7 and sorted(seen) == sorted(ids)
    starts = [c["start_time_unix_secs"] for c in el.conversations() if c["conversation_id"] in seen]
    assert len(starts) == 25
    r = requests.get(el.url + "/v1/convai/conversations", headers=EL_AUTH, params={"page_size": 101}, timeout=5)
    assert r.status_code == 422
    detail = requests.get(f"{el.url}/v1/convai/conversations/{ids[0]}", headers=EL_AUTH, timeout=5).json()
    assert detail["conversation_id"] == ids[0] and detail["metadata"]["call_duration_secs"] == 30


def test_control_api(el, ds):
    r = requests.post(el.url + "/_control/conversation", json={"conversation_id": "conv_x", "status": "done"},
                      timeout=5)
    assert r.json() == {"conversation_id": "conv_x"}
    requests.post(el.url + "/_control/mode", json={"mode": "503", "retry_after": 2}, timeout=5)
    assert requests.get(el.url + "/v1/user/subscription", headers=EL_AUTH, timeout=5).status_code == 503
    assert requests.get(el.url + "/_control/state", timeout=5).json()["mode"] == "503"
    requests.post(ds.url + "/_control/balance", json={"currency": "USD", "total": "0.50"}, timeout=5)
    requests.post(ds.url + "/_control/token_multiplier", json={"value": 3}, timeout=5)
    state = requests.get(ds.url + "/_control/state", timeout=5).json()
    assert state["balances"]["USD"]["total"] == "0.50" and state["token_multiplier"] == 3
    assert requests.post(ds.url + "/_control/nope", json={}, timeout=5).status_code == 404
    assert requests.post(ds.url + "/_control/mode", json={"mode": "teapot"}, timeout=5).status_code == 400


def test_standalone_command():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lookout.demo.providers", "elevenlabs", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, timeout=20)
        assert requests.get(f"http://127.0.0.1:{port}/v1/user/subscription", timeout=5).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(10) == 0

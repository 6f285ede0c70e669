"""Pieces of the demo that need no running demo: webhook signatures, the small Redis client and the fault
switches on a real Redis, settings from flags and ``DEMO_*`` variables."""

from __future__ import annotations

import argparse
import json

import pytest

from lookout.demo import settings as demo_settings
from lookout.demo.faults import FAULTS, FaultStore
from lookout.demo.resp import Resp, RespError
from lookout.demo.testing import ROOT
from lookout.demo.voice.signature import TOLERANCE, BadRequest, sign, verify_signature


def test_signature_round_trip_and_rejections():
    body = b'{"type": "post_call_transcription"}'
    verify_signature(sign(body, "s3cret", ts=1_000_000), body, "s3cret", now=1_000_000 + TOLERANCE)
    header = sign(body, "s3cret", ts=1_000_000)
    # several v0 values (secret rotation): any one may match
    verify_signature(header.replace("t=1000000,", "t=1000000,v0=00,"), body, "s3cret", now=1_000_000)
    for bad_header, now in ((header, 1_000_000 + TOLERANCE + 1),              # too old
                            (sign(body, "other", ts=1_000_000), 1_000_000),     # wrong secret
                            (sign(body + b" ", "s3cret", ts=1_000_000), 1_000_000),  # body changed
                            ("v0=abc", 1_000_000), ("t=x,v0=abc", 1_000_000), ("", 1_000_000)):
        with pytest.raises(BadRequest) as exc:
            verify_signature(bad_header, body, "s3cret", now=now)
        assert exc.value.status == 401


def test_resp_client_and_fault_store(redis_srv):
    r = Resp(redis_srv.url.replace("/0", "/3"))
    assert r.call("PING") == "PONG"
    assert r.call("HSET", "demo:test", "a", "1") in (0, 1)
    assert r.call("HGETALL", "demo:test") == [b"a", b"1"]
    assert r.call("HGET", "demo:test", "missing") is None
    with pytest.raises(RespError):
        r.call("NO-SUCH-COMMAND")
    assert r.call("DEL", "demo:test") == 1
    with pytest.raises(RespError):
        Resp("rediss://127.0.0.1:1/0")

    store = FaultStore(redis_srv.url.replace("/0", "/3"))
    assert store.value("api-errors") is None
    store.set("api-errors", True, 0.25)
    store.set("stop-beat", True)
    assert store.value("api-errors") == 0.25
    assert store.value("stop-beat") == 0.0  # on, no value
    store.set("marketplace-slow", True)
    assert store.value("marketplace-slow") == FAULTS["marketplace-slow"].default
    for name in ("api-errors", "stop-beat", "marketplace-slow"):
        store.set(name, False)
    assert store.all(max_age=0) == {}
    with pytest.raises(KeyError):
        store.set("no-such-fault", True)


def test_fault_store_survives_redis_down():
    store = FaultStore("redis://127.0.0.1:1/0")  # nothing listens: the apps keep running without faults
    assert store.all(max_age=0) == {}
    with pytest.raises(OSError):
        store.set("stop-beat", True)


def test_settings_from_flags_environment_and_json(monkeypatch):
    monkeypatch.setenv("DEMO_CHAT_PORT", "18001")
    monkeypatch.setenv("DEMO_SPEED", "4")
    p = argparse.ArgumentParser()
    demo_settings.add_arguments(p)
    s = demo_settings.from_args(p.parse_args(["--voice-port", "15002", "--intervals", "sync_all_sellers=2"]))
    assert (s.chat_port, s.voice_port, s.speed) == (18001, 15002, 4.0)
    assert s.task_interval("sync_all_sellers") == 2.0
    assert s.task_interval("check_sla_escalation") == 300 / 4
    assert s.chat_base == "http://127.0.0.1:18001"
    assert "demo-webhook-secret" not in p.format_help() and "sk-demo" not in p.format_help()  # secrets hidden
    # children get the resolved settings as one JSON variable
    monkeypatch.setenv(demo_settings.ENV_JSON, s.to_env()[demo_settings.ENV_JSON])
    assert demo_settings.Settings.from_env() == s
    monkeypatch.delenv(demo_settings.ENV_JSON)
    assert demo_settings.Settings.from_env().chat_port == 18001
    for bad in (["--only", "voice,x"], ["--speed", "0"], ["--intervals", "nope=1"], ["--call-duration", "a:b"]):
        with pytest.raises(ValueError):
            demo_settings.from_args(p.parse_args(bad))
    host = demo_settings.Settings(host="0.0.0.0", marketplace_url="http://demo-providers:5591/")
    assert host.voice_base == "http://127.0.0.1:5002" and host.marketplace_base == "http://demo-providers:5591"
    assert json.loads(host.to_env()[demo_settings.ENV_JSON])["host"] == "0.0.0.0"


def test_every_fault_has_exactly_one_applier(monkeypatch):
    """A fault is applied by the supervisor's handler table or read by an app, never neither (a typo used to turn a
    fault into a silent no-op)."""
    from lookout.demo import faults, supervisor

    supervisor.check_fault_handlers()
    sources = "".join(p.read_text() for p in (ROOT / "demo").rglob("*.py")
                      if p.name not in ("faults.py", "fault_alerts.py") and p.parent.name != "supervisor")
    for name in supervisor.APPLIED_BY_THE_APPS:
        assert f'"{name}"' in sources, f"{name}: no app reads it"
    monkeypatch.setitem(faults.FAULTS, "new-fault", faults.Fault("new-fault", "chat", None, "", "does something"))
    with pytest.raises(RuntimeError, match=r"unhandled \['new-fault'\]"):
        supervisor.check_fault_handlers()

"""The demo split into parts, as the compose stack runs it (one supervisor per container): ``--only providers``
and ``--only voice`` share Redis and find each other by URL; a fault switched through either supervisor is
applied by the one that owns the broken part.
"""

from __future__ import annotations

import subprocess
import sys

import psycopg
import requests

from lookout.demo.testing import ROOT, DemoProcess
from lookout.stack.procs import wait_until
from tests.support.servers import redis_server


def ok(url: str, **kw) -> bool:
    try:
        return requests.get(url, timeout=2, **kw).status_code == 200
    except requests.RequestException:
        return False


def test_parts_in_separate_supervisors(pg):
    url = pg.create_database("demo_split")
    with redis_server() as r, DemoProcess(url, r.url, only="providers") as providers, \
            DemoProcess(url, r.url, only="voice", speed=30, call_rate=60, call_duration="30:60",
                        elevenlabs_url=providers.url("elevenlabs")) as voice:
        assert providers.status()["children"] == {}
        assert set(voice.status()["children"]) == {"gunicorn", "mcp"}
        # calls are recorded by the voice part and registered in the providers' fake ElevenLabs
        with psycopg.connect(url, autocommit=True) as conn:
            wait_until(lambda: conn.execute("SELECT count(*) FROM conversations WHERE credits_charged IS NOT NULL")
                     .fetchone()[0] >= 2, what="charged conversations")
            assert conn.execute("SELECT to_regclass('sellers')").fetchone()[0] is None  # chat schema not applied
        listed = requests.get(providers.url("elevenlabs") + "/v1/convai/conversations", timeout=5,
                              headers={"xi-api-key": "xi-demo"}).json()["conversations"]
        assert any(c["status"] == "done" for c in listed)

        # a providers fault switched through the voice supervisor
        balance = providers.url("deepseek") + "/user/balance"
        auth = {"Authorization": "Bearer sk-demo"}
        res = voice.fault("llm-402", "on")
        assert res["applied_here"] is False and res["part"] == "providers"
        wait_until(lambda: requests.get(balance, headers=auth, timeout=5).json()["is_available"] is False,
                 timeout=10, what="402 applied by the providers supervisor")
        voice.fault("llm-402", "off")
        wait_until(lambda: requests.get(balance, headers=auth, timeout=5).json()["is_available"] is True,
                 timeout=10, what="402 reverted")

        # and a voice fault switched through the providers supervisor
        providers.fault("stop-mcp", "on")
        wait_until(lambda: not ok(voice.url("mcp") + "/health"), timeout=15, what="MCP stopped by the voice part")
        providers.fault("stop-mcp", "off")
        wait_until(lambda: ok(voice.url("mcp") + "/health"), timeout=30, what="MCP back")


def test_bad_only_value_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "lookout.demo", "up", "--only", "voice,nope"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--only" in r.stderr

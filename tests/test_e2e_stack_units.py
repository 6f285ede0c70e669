"""The native stack's pieces, without starting it: the configuration rewrite keeps everything but the
addresses (and passes promtool/amtool), and the stand-in pager understands what Alertmanager sends."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from stack import render
from stack.receiver import Recorder, parse

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "prometheus" / "prometheus.yml"
AM = ROOT / "alertmanager" / "alertmanager.yml"


def test_rewrite_addresses_only_touches_compose_hosts() -> None:
    addrs = {"exporters:9808": "127.0.0.1:1", "demo-voice:5002": "127.0.0.1:2", "demo-voice:5556": "127.0.0.1:3"}
    tree = {"a": ["exporters:9808", "http://demo-voice:5002/health", "http://demo-voice:5556/health"],
            "b": "my-exporters:9808 exporters:98080 demo-voice:50021", "c": 5}
    out = render.rewrite_addresses(tree, addrs)
    assert out["a"] == ["127.0.0.1:1", "http://127.0.0.1:2/health", "http://127.0.0.1:3/health"]
    assert out["b"] == tree["b"] and out["c"] == 5


@pytest.mark.skipif(not PROM.exists(), reason="prometheus/prometheus.yml is not generated yet")
def test_every_scraped_compose_address_has_a_standard_mapping() -> None:
    conf = yaml.safe_load(PROM.read_text())
    assert not render.unmapped_addresses(conf, render.standard_addresses())


@pytest.mark.skipif(not PROM.exists(), reason="prometheus/prometheus.yml is not generated yet")
def test_extra_targets_join_their_job() -> None:
    """The native stack's HTTPS target joins blackbox_tls, which the generated configuration leaves empty."""
    extra = {"targets": ["127.0.0.1:2"], "labels": {"platform": "chatcenter", "host": "vps-1", "service": "chat-api"}}
    conf = render.render_prometheus(PROM, {"demo-chat:8001": "127.0.0.1:1"}, extra_targets={"blackbox_tls": [extra]})
    targets = {j["job_name"]: [t for sc in j.get("static_configs", []) for t in sc["targets"]]
               for j in conf["scrape_configs"]}
    assert targets["blackbox_tls"] == ["127.0.0.1:2"] and targets["chatcenter_api"] == ["127.0.0.1:1"]
    assert "http://127.0.0.1:1/api/health" in targets["blackbox_http"]


@pytest.mark.skipif(not (PROM.exists() and AM.exists()), reason="configuration not generated yet")
def test_render_command_output_passes_promtool_and_amtool(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "stack", "render", "--out", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    prom = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    assert "127.0.0.1:9808" in json.dumps(prom) and "exporters:9808" not in json.dumps(prom)
    orig = yaml.safe_load(PROM.read_text())
    assert [j["job_name"] for j in prom["scrape_configs"]] == [j["job_name"] for j in orig["scrape_configs"]]
    if shutil.which("promtool"):
        rendered = str(tmp_path / "prometheus" / "prometheus.yml")
        c = subprocess.run(["promtool", "check", "config", "--syntax-only", rendered], capture_output=True, text=True)
        assert c.returncode == 0, c.stdout + c.stderr
    if shutil.which("amtool"):
        c = subprocess.run(["amtool", "check-config", str(tmp_path / "alertmanager" / "alertmanager.yml")],
                           capture_output=True, text=True)
        assert c.returncode == 0, c.stdout + c.stderr


@pytest.mark.skipif(not AM.exists(), reason="alertmanager/alertmanager.yml is not generated yet")
def test_alertmanager_receivers_point_at_the_pager_and_keep_routing(tmp_path: Path) -> None:
    conf = render.render_alertmanager(AM, {}, pager_url="http://127.0.0.1:1", secrets_dir=tmp_path,
                                      timers={"group_wait": "1s", "group_interval": "2s"})
    orig = yaml.safe_load(AM.read_text())
    assert conf["inhibit_rules"] == orig["inhibit_rules"]
    assert [r["name"] for r in conf["receivers"]] == [r["name"] for r in orig["receivers"]]
    for rcv in conf["receivers"]:
        for kind in ("webhook_configs", "pagerduty_configs", "telegram_configs"):
            for cfg in rcv.get(kind, []):
                url = cfg.get("url") or cfg.get("api_url")
                assert url.startswith(f"http://127.0.0.1:1/{rcv['name']}/"), url
                assert all(Path(v).parent == tmp_path for k, v in cfg.items() if k.endswith("_file"))
    assert conf["route"]["group_wait"] == "1s"
    # matchers and receivers of the routes are untouched
    strip = lambda r: {k: v for k, v in r.items() if k not in ("group_wait", "group_interval", "repeat_interval")}  # noqa: E731
    assert [strip(r) for r in conf["route"]["routes"]] == [strip(r) for r in orig["route"]["routes"]]


def test_pager_parses_webhook_pagerduty_and_telegram() -> None:
    hook = json.dumps({"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "McpServerDown"}}]})
    n = parse("page", "webhook", hook.encode(), "application/json", set())
    assert n.alerts == {"McpServerDown": "firing"} and n.status == "firing"
    pd = json.dumps({"event_action": "resolve", "payload": {"summary": "[RESOLVED] SlaBreached"}})
    n = parse("page", "pagerduty", pd.encode(), "application/json", {"SlaBreached", "Sla"})
    assert n.status == "resolved" and n.alerts == {"SlaBreached": "resolved"}
    tg = json.dumps({"chat_id": 1, "text": "<b>[FIRING:1] CeleryNoLiveWorker</b> chat-api"})
    n = parse("page", "telegram", tg.encode(), "application/json", {"CeleryNoLiveWorker"})
    assert n.alerts == {"CeleryNoLiveWorker": "firing"}


def test_pager_answers_like_the_real_apis() -> None:
    rec = Recorder()
    rec.start()
    try:
        r = requests.post(f"{rec.url}/page/telegram/botX/getMe", timeout=5)
        assert r.json()["ok"] is True and not rec.snapshot()
        r = requests.post(f"{rec.url}/page/telegram/botX/sendMessage", json={"text": "[FIRING:1] X"}, timeout=5)
        assert r.json()["ok"] is True
        r = requests.post(f"{rec.url}/page/pagerduty", json={"event_action": "trigger"}, timeout=5)
        assert r.status_code == 202
        assert [n.kind for n in rec.snapshot()] == ["telegram", "pagerduty"]
        assert len(requests.get(f"{rec.url}/notifications", timeout=5).json()) == 2
    finally:
        rec.stop()

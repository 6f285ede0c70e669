"""The native stack's pieces, without starting it: the demo site moved to this machine's addresses (every
address from the site, nothing rewritten), its generated files pass promtool/amtool, and the stand-in
pager understands what Alertmanager sends."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from lookout.monitoring import build
from lookout.monitoring.site import load_site
from lookout.stack.native_site import Local, localize
from lookout.stack.receiver import Recorder, parse

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_NAMES = ("demo-voice", "demo-chat", "exporters:", "node-exporter", "postgres-exporter", "redis-exporter",
                 "blackbox-exporter", "nginx-log-exporter", "alertmanager-1", "alertmanager-2", "prometheus:",
                 "alert-relay")


def _local(tmp_path: Path) -> Local:
    return Local(
        exporters={"lookout": "127.0.0.1:1001", "node": "127.0.0.1:1002", "postgres": "127.0.0.1:1003",
                   "redis": "127.0.0.1:1004", "nginx_log": "127.0.0.1:1005"},
        prometheus="127.0.0.1:1010", alertmanagers=("127.0.0.1:1011", "127.0.0.1:1012"), blackbox="127.0.0.1:1013",
        pager_url="http://127.0.0.1:1020", secrets_dir=tmp_path / "secrets", demo_dir=tmp_path / "demo",
        demo_ports={"demo-voice": 2001, "demo-mcp": 2002, "demo-chat": 2003}, tls_port=2004,
        scrape_interval=2, evaluation_interval=2, exporter_intervals={"worker_pools": "1s"}, beat_speed=20,
        check_settings={"credits": {"window": "60s"}})


def test_the_native_demo_site_has_only_this_machines_addresses(tmp_path: Path) -> None:
    demo = load_site(ROOT / "examples" / "demo.yaml")
    site = localize(demo, _local(tmp_path), demo=True)
    chat = site.service("chat-api")
    assert (chat.address, chat.port, chat.health_url, chat.tls_host) == (
        "127.0.0.1", 2003, "http://127.0.0.1:2003/api/health", "127.0.0.1:2004")
    assert site.service("mcp-server").health_url == "http://127.0.0.1:2002/health"
    voice = site.service("voice-api")  # the demo writes its error log and REVISION into its run dir
    assert (voice.error_log, voice.release.file) == (str(tmp_path / "demo" / "error.log"),
                                                     str(tmp_path / "demo" / "REVISION"))
    assert site.exporters_on(site.monitoring_host)["nginx_log"] == "127.0.0.1:1005"
    assert site.periodic_tasks["sync_all_sellers"] == 30 / 20
    assert dict(site.check("credits")[1])["window"] == "60s"  # merged over the site's own settings
    assert dict(site.check("credits")[1])["max_call_length"] == "30m"
    assert float(site.monitoring.exporter_intervals["worker_pools"]) == 1
    assert float(site.monitoring.exporter_intervals["celery"]) == 5  # the site's own
    rc = site.alerting.receivers
    assert rc.page.pagerduty.url == "http://127.0.0.1:1020/page/pagerduty"
    assert rc.ticket.telegram.api_url == "http://127.0.0.1:1020/ticket/telegram"
    assert [w.url for w in rc.heartbeat.webhooks] == ["http://127.0.0.1:1020/heartbeat/webhook"]
    assert Path(rc.page.pagerduty.routing_key_file).parent == tmp_path / "secrets"
    # everything else is the site's own
    assert [s.name for s in site.services] == [s.name for s in demo.services]
    assert site.capacity_thresholds == demo.capacity_thresholds
    # the links in notifications open on this machine
    assert (site.prometheus_external_url, site.alertmanager_external_url) == ("http://127.0.0.1:1010",
                                                                              "http://127.0.0.1:1011")
    local = dataclasses.replace(site.alerting, receivers=demo.alerting.receivers,
                                prometheus_url=demo.alerting.prometheus_url,
                                alertmanager_url=demo.alerting.alertmanager_url)
    assert local == demo.alerting
    with_boards = localize(demo, dataclasses.replace(_local(tmp_path), grafana_url="http://127.0.0.1:1030"), demo=True)
    assert with_boards.alerting.runbooks == "http://127.0.0.1:1030/public/runbooks/index.html"


def test_native_generated_files_name_no_compose_host_and_pass_promtool_and_amtool(tmp_path: Path) -> None:
    site = localize(load_site(ROOT / "examples" / "demo.yaml"), _local(tmp_path), demo=True)
    out = tmp_path / "generated"
    build.write_dir(build.site_files(site), out)
    for name in ("prometheus/prometheus.yml", "alertmanager/alertmanager.yml", "exporters.yaml"):
        text = (out / name).read_text()
        assert not [c for c in COMPOSE_NAMES if c in text.split("do not edit by hand", 1)[-1]], name
    prom = yaml.safe_load((out / "prometheus/prometheus.yml").read_text())
    targets = {j["job_name"]: [t for sc in j.get("static_configs", []) for t in sc["targets"]]
               for j in prom["scrape_configs"]}
    assert targets["blackbox_tls"] == ["127.0.0.1:2004"]
    assert "http://127.0.0.1:2003/api/health" in targets["blackbox_http"]
    promtool, amtool = shutil.which("promtool") or "promtool", shutil.which("amtool") or "amtool"
    c = subprocess.run([promtool, "check", "config", str(out / "prometheus/prometheus.yml")],
                       capture_output=True, text=True, timeout=60)
    assert c.returncode == 0, c.stdout + c.stderr
    c = subprocess.run([amtool, "check-config", str(out / "alertmanager/alertmanager.yml")],
                       capture_output=True, text=True, timeout=60)
    assert c.returncode == 0, c.stdout + c.stderr
    am = yaml.safe_load((out / "alertmanager/alertmanager.yml").read_text())
    for rcv in am["receivers"]:
        for kind in ("webhook_configs", "pagerduty_configs", "telegram_configs"):
            for cfg in rcv.get(kind, []):
                url = cfg.get("url") or cfg.get("api_url")
                assert url.startswith(f"http://127.0.0.1:1020/{rcv['name']}/"), url


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


def test_notification_checks_read_every_kind_and_invert_humanize() -> None:
    from lookout.monitoring.templating import FUNCS
    from tests.support.notifications import links, parse_human

    for v in (0.0, 3.0, 150.0, 1240.0, 0.025, 0.4567, 1.5e9, 300.0, 4000.0, 93784.0):
        for name, f in FUNCS.items():
            got = parse_human(f(v))
            assert got is not None and abs(got - v) <= 0.001 * max(v, 1), (name, v, f(v), got)
    assert parse_human("14 days") == 14 and parse_human("2GiB") == 2 * 1024 ** 3 and parse_human("50m/s") == 0.05
    hook = parse("page", "webhook", json.dumps({"status": "firing", "externalURL": "http://a", "alerts": [
        {"labels": {"alertname": "X"}, "annotations": {"runbook_url": "http://r#x", "dashboard_url": "http://d"},
         "generatorURL": "http://g"}]}).encode(), "application/json", set())
    assert links(hook) == ["http://a", "http://r#x", "http://d", "http://g"]
    tg = parse("page", "telegram", json.dumps({"chat_id": 1, "text": '<a href="http://r?a=1&amp;b=2">r</a>'}).encode(),
               "application/json", set())
    assert links(tg) == ["http://r?a=1&b=2"]
    pd = parse("page", "pagerduty", json.dumps({"event_action": "trigger", "client_url": "http://c",
                                                "links": [{"href": "http://d"}]}).encode(), "application/json", set())
    assert links(pd) == ["http://d", "http://c"]


def test_up_ha_store_reaches_the_stack_and_a_bad_store_is_one_line(monkeypatch, capsys) -> None:
    """``python -m lookout.stack up --ha --store victoriametrics`` (issue 17) builds the HA + store options; an unknown
    store is refused with one line and exit 2, before anything starts."""
    from lookout.stack import cli

    seen = []

    class FakeStack:
        def __init__(self, opts) -> None:
            seen.append(opts)

        def start(self) -> None:
            raise RuntimeError("not started in this test")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(cli, "Stack", FakeStack)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)  # the worker's own handlers stay
    assert cli.main(["up", "--ha", "--store", "victoriametrics"]) == 1
    assert seen[0].ha and seen[0].store == "victoriametrics" and seen[0].demo
    assert capsys.readouterr().err.strip() == "stack: not started in this test"
    with pytest.raises(SystemExit) as exc:
        cli.main(["up", "--ha", "--store", "mimir"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and "invalid choice: 'mimir'" in err[-1] and "Traceback" not in "".join(err)
    assert len(seen) == 1


def test_prometheus_and_the_alertmanagers_get_the_sites_gogc(tmp_path: Path) -> None:
    """The site's ``monitoring.gogc`` reaches the native processes through the generated lookout.env, as it reaches
    the systemd drop-ins and compose; the bench's baseline (``site_gogc=False``) leaves Go's default."""
    from lookout.monitoring.site import GoGC
    from lookout.stack.native import Options, Stack

    demo = load_site(ROOT / "examples" / "demo.yaml")
    site = dataclasses.replace(demo, monitoring=dataclasses.replace(demo.monitoring,
                                                                    gogc=GoGC(prometheus=40, alertmanager=70)))
    s = Stack(Options(run_dir=tmp_path))
    build.write_dir({"lookout.env": build.env_file(site)}, s.generated)
    assert s._go_env("PROMETHEUS_GOGC") == {"GOGC": "40"}
    assert s._go_env("ALERTMANAGER_GOGC") == {"GOGC": "70"}
    assert Stack(Options(run_dir=tmp_path, site_gogc=False))._go_env("PROMETHEUS_GOGC") == {"GOGC": "100"}

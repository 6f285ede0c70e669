"""The site file: the model, its published schema and docs, the examples, and refused inputs."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from lookout.exporters.config import CollectorSettings, Duration, Secret, setting
from lookout.monitoring import site as site_mod
from lookout.monitoring.site import SiteError, load_site

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SITE_EXAMPLES = [p for p in EXAMPLES if p.name != "config.yaml"]  # config.yaml is the exporter's


def test_schema_and_docs_are_published_and_fresh():
    for path, text in site_mod.published().items():
        assert path.read_text() == text, f"{path.name} is stale: run `python -m lookout.monitoring.site write`"
    jsonschema.Draft202012Validator.check_schema(json.loads(site_mod.SCHEMA_PATH.read_text()))


@pytest.mark.parametrize("path", SITE_EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads_and_matches_the_schema(path):
    load_site(path)
    schema = json.loads(site_mod.SCHEMA_PATH.read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_demo_site_describes_what_the_demo_runs():
    s = load_site(ROOT / "examples" / "demo.yaml")
    pools = {p.name: (p.pool_server, p.workers, p.port) for p in s.pools}
    assert pools == {"voice-api": ("gunicorn", 4, 5002), "chat-api": ("uvicorn", 2, 8001),
                     "celery-worker": ("celery", 2, None)}
    assert s.periodic_tasks == {"sync_all_sellers": 30, "analyze_pending_chats": 120,
                                "check_sla_escalation": 300, "auto_close_inactive_chats": 86400}
    assert s.capacity_thresholds == {"active_sellers": 100, "chats_per_day": 10_000, "concurrent_users": 1_000}
    h = s.hosts[0]
    assert (h.name, h.vcpus, h.memory_bytes, h.disk_bytes) == ("vps-1", 2, 4 * 1024**3, 20 * 10**9)
    assert s.monthly_budget_usd("deepseek") == 10
    probes = {(sv.health_url, sv.platform, sv.name) for sv in s.services if sv.health_url}
    assert probes == {("http://demo-voice:5002/health", "voice", "voice-api"),
                      ("http://demo-voice:5556/health", "voice", "mcp-server"),
                      ("http://demo-chat:8001/api/health", "chatcenter", "chat-api")}
    assert not [sv for sv in s.services if sv.tls_host]  # the compose demo serves no HTTPS
    assert s.alerting.grafana_url == "http://localhost:3000"
    assert s.alerting.runbooks == "http://localhost:3000/public/runbooks/index.html"  # served by Grafana
    assert s.monitoring.alertmanagers == ("alertmanager-1:9093", "alertmanager-2:9093")
    assert s.platforms == ("voice", "chatcenter")
    assert s.has_platform("voice") and not s.has_platform("shop")
    assert [x.name for x in s.services_of_kind("celery_beat")] == ["celery-beat"]
    assert s.exporter_address(h, "node") == "node-exporter:9100"
    api = s.service("chat-api")
    assert api.metrics is not None and api.metrics.slo is not None and api.metrics.slo.latency is not None
    assert (api.metrics.path, api.metrics_port, api.metrics.slo.latency.threshold) == ("/api/metrics", 8001, 0.5)


def test_threshold_overrides_merge_over_defaults():
    s = _site("thresholds: {disk_free_warning: 0.2}")
    assert s.threshold_overrides == {"disk_free_warning": 0.2}
    assert s.merged_thresholds({"disk_free_warning": 0.15, "memory_available": 0.1}) == {
        "disk_free_warning": 0.2, "memory_available": 0.1}
    with pytest.raises(SiteError, match=r"^thresholds\.disk_free_warning: unknown threshold"):
        s.merged_thresholds({"memory_available": 0.1})


def test_partial_capacity_thresholds_keep_the_other_defaults():
    s = _site(databases="""
        databases:
          - name: chat
            host: app-1
            platform: chatcenter
            dsn: ${CHAT_DSN}
            checks:
              capacity: {thresholds: {active_sellers: 200}}
        """)
    assert s.capacity_thresholds == {"active_sellers": 200, "chats_per_day": 10_000, "concurrent_users": 1_000}


MINIMAL = """
name: test
hosts:
  - name: app-1
    address: app-1.example.internal
alerting:
  receivers:
    page: {webhooks: [{url: "http://127.0.0.1:9/page"}]}
    ticket: {webhooks: [{url: "http://127.0.0.1:9/ticket"}]}
"""


def _site(extra: str = "", databases: str = "", tmp: Path | None = None) -> site_mod.Site:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "site.yaml"
        p.write_text(MINIMAL + textwrap.dedent(databases) + textwrap.dedent(extra))
        return load_site(p)


@pytest.mark.parametrize("snippet, message", [
    ("colour: blue", r"^colour: unknown key \(known keys: alerting, collectors, databases, hosts, "),
    ("services:\n  - {name: a, host: app-1, kind: gunicorn, platform: x, wokers: 2}",
     r"^services\[0\]\.wokers: unknown key"),
    ("hosts:\n  - {name: b, address: b}", r"^hosts: duplicate key \(lines 3 and \d+\)"),
    ("services:\n  - {name: a, host: app-9, kind: gunicorn, platform: x}",
     r"^services\[0\]\.host: no host named 'app-9'"),
    ("services:\n  - {name: a, host: app-1, kind: nginx, platform: x}",
     r"^services\[0\]\.kind: expected one of gunicorn, uvicorn, celery_worker, celery_beat, http, got 'nginx'"),
    ("databases:\n  - {name: d, host: app-1, platform: x, dsn: 'postgresql://ro:hunter2@db/app'}",
     r"^databases\[0\]\.dsn: password given as a literal in the file; use \$\{VAR\} or dsn_file$"),
    ("providers:\n  deepseek: {api_key: sk-live-123}",
     r"^providers\.deepseek\.api_key: secret given as a literal in the file; use \$\{VAR\} or api_key_file$"),
    ("databases:\n  - {name: d, host: app-1, platform: x, dsn: '${D}', checks: {capacity: {thresholds: {x: 1}}}}",
     r"^databases\[0\]\.checks\.capacity: thresholds\.x: unknown resource"),
    ("databases:\n  - {name: d, host: app-1, platform: x, dsn: '${D}', checks: {sla: {horizn: 5m}}}",
     r"^databases\[0\]\.checks\.sla\.horizn: unknown key"),
    ("databases:\n  - {name: d, host: app-1, platform: x, dsn: '${D}', checks: {sla: {}}}\n"
     "  - {name: e, host: app-1, platform: x, dsn: '${E}', checks: {sla: {}}}",
     r"^databases\[1\]\.checks\.sla: already enabled on database 'd'"),
    ("thresholds: {disk_free_warning: lots}", r"^thresholds\.disk_free_warning: expected a number"),
    ("monitoring: {alertmanagers: [am1]}", r"^monitoring\.alertmanagers\[0\]: expected HOST:PORT"),
    ("monitoring: {gogc: {prometheus: 0}}", r"^monitoring\.gogc\.prometheus: expected a percentage from 10 to 1000"),
])
def test_bad_input_is_one_line_naming_the_key(snippet, message):
    with pytest.raises(SiteError) as err:
        _site(snippet)
    assert "\n" not in str(err.value)
    assert __import__("re").search(message, str(err.value)), str(err.value)
    assert "hunter2" not in str(err.value) and "sk-live-123" not in str(err.value)


def test_a_huge_refused_value_keeps_the_line_bounded():
    with pytest.raises(SiteError) as err:
        _site(f"thresholds: {{disk_free_warning: {'x' * 100_000}}}")
    assert str(err.value).startswith("thresholds.disk_free_warning: expected a number")
    assert len(str(err.value)) < 1100 and "(100," in str(err.value)


def test_alerting_secrets_are_files_only():
    text = MINIMAL.replace('page: {webhooks: [{url: "http://127.0.0.1:9/page"}]}',
                           "page: {pagerduty: {routing_key: abcdef}}")
    with pytest.raises(SiteError, match=r"^alerting\.receivers\.page\.pagerduty\.routing_key: secret given as a "
                                        r"literal in the file; use routing_key_file$"):
        _load_text(text)


def test_duplicate_nested_key_names_its_path():
    text = MINIMAL.replace("address: app-1.example.internal",
                           "address: app-1.example.internal\n    address: other")
    with pytest.raises(SiteError, match=r"^hosts\[0\]\.address: duplicate key \(lines 5 and 6\)$"):
        _load_text(text)


def _load_text(text: str) -> site_mod.Site:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "site.yaml"
        p.write_text(text)
        return load_site(p)


def test_exporter_capacity_partial_thresholds_merge():
    """`thresholds: {active_sellers: 200}` used to drop the other two: their alerts could never fire."""
    from lookout.exporters.collectors.capacity import CapacitySettings
    from lookout.exporters.config import build_dataclass

    s = build_dataclass(CapacitySettings, {"dsn": "postgresql:///x", "thresholds": {"active_sellers": 200}}, "c")
    assert s.thresholds == {"active_sellers": 200, "chats_per_day": 10_000, "concurrent_users": 1_000}


@pytest.mark.parametrize("path", SITE_EXAMPLES, ids=lambda p: p.name)
def test_every_example_yields_exporter_configs_the_exporter_accepts(path, monkeypatch, tmp_path):
    from lookout.exporters import config
    from lookout.monitoring import exporter_config

    for var in ("VOICE_DATABASE_URL", "CHATCENTER_DATABASE_URL"):
        monkeypatch.setenv(var, "postgresql://ro@127.0.0.1/x")
    monkeypatch.setenv("REDIS_PASSWORD", "redis-pw")  # goes into a redis:// URL
    s = load_site(path)
    files = exporter_config.render(s)
    assert "exporters.yaml" in files
    for name, text in files.items():
        text = text.replace("/etc/lookout/secrets/", f"{tmp_path}/").replace("/run/secrets/", f"{tmp_path}/")
        for f in ("deepseek_api_key", "elevenlabs_api_key"):
            (tmp_path / f).write_text("k" * 20)
        (tmp_path / "voice_dsn").write_text("postgresql://ro@127.0.0.1/voice")
        for f in ("deepseek_api_key", "elevenlabs_api_key", "voice_dsn"):
            (tmp_path / f).chmod(0o600)  # secret files readable by their owner only
        (tmp_path / name).write_text(text)
        cfg = config.load(tmp_path / name)
        assert "worker_pools" in cfg.collectors or name == "exporters.yaml"


def test_two_hosts_each_run_their_pools_and_the_central_checks_run_once():
    from lookout.monitoring import exporter_config

    s = load_site(ROOT / "examples" / "two-host.yaml")
    confs = exporter_config.exporter_configs(s)
    assert sorted(confs) == ["exporters-app-2.yaml", "exporters.yaml"]  # db-1 runs no pool: no lookout exporter
    assert confs["exporters-app-2.yaml"]["listen"] == "app-2.example.internal:9808"
    assert list(confs["exporters-app-2.yaml"]["collectors"]) == ["worker_pools"]
    assert "listen" not in confs["exporters.yaml"]  # the monitoring host's exporter keeps 127.0.0.1
    assert {"celery", "capacity", "sla"} <= set(confs["exporters.yaml"]["collectors"])
    assert s.exporters_on(s.host("db-1")) == {"node": "db-1.example.internal:9100",
                                              "postgres": "db-1.example.internal:9187",
                                              "redis": "db-1.example.internal:9121"}
    assert s.exporters_on(s.host("app-1")) == {"lookout": "127.0.0.1:9808", "node": "127.0.0.1:9100"}
    assert [h.name for h in s.exporter_hosts] == ["app-1", "app-2"]
    assert s.service_names == ("chat-api", "public-site", "celery-worker", "celery-beat")


def test_capacity_threshold_in_the_site_reaches_the_exporter_config():
    from lookout.monitoring import exporter_config

    s = _site(databases="""
        databases:
          - name: chat
            host: app-1
            platform: chatcenter
            dsn: ${CHAT_DSN}
            checks:
              capacity: {thresholds: {active_sellers: 200}}
        """)
    conf = exporter_config.exporter_configs(s)["exporters.yaml"]
    assert conf["collectors"]["capacity"]["thresholds"] == {"active_sellers": 200, "chats_per_day": 10000,
                                                            "concurrent_users": 1000}


def test_query_overrides_reach_the_exporter_and_unknown_queries_are_refused():
    from lookout.monitoring import exporter_config

    db = """
        databases:
          - name: chat
            host: app-1
            platform: chatcenter
            dsn: ${CHAT_DSN}
            checks:
              capacity: {queries: {concurrent_users: "SELECT count(*) AS value FROM sessions"}}
        """
    conf = exporter_config.exporter_configs(_site(databases=db))["exporters.yaml"]
    assert conf["collectors"]["capacity"]["queries"] == {"concurrent_users": "SELECT count(*) AS value FROM sessions"}
    with pytest.raises(SiteError, match=r"^databases\[0\]\.checks\.capacity: queries\.concurent_users: unknown query"):
        _site(databases=db.replace("concurrent_users:", "concurent_users:"))


def test_two_pools_of_one_server_on_one_host_need_distinct_matches():
    two = ("services:\n  - {name: a, host: app-1, kind: gunicorn, platform: x, match: 'a:app'}\n"
           "  - {name: b, host: app-1, kind: gunicorn, platform: x}")
    with pytest.raises(SiteError, match=r"^services\[1\]\.match: services\[0\] is also a gunicorn pool on app-1"):
        _site(two)
    _site(two.replace("platform: x}", "platform: x, match: 'b:app'}"))


@dataclasses.dataclass(kw_only=True)
class FakeSettings(CollectorSettings):
    dsn: Secret = setting(help="a database")
    window: Duration = setting(Duration(60), help="a window")


def test_further_collectors_are_checked_by_the_collector_and_reach_the_exporter(monkeypatch):
    """`collectors:` carries a collector the site's keys do not model yet (here a stand-in registered for the
    test), checked by its own settings class without reading a secret or needing the variables set."""
    import lookout.exporters.collectors as registry
    from lookout.monitoring import exporter_config

    real = registry.settings_class
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, "fake"))
    monkeypatch.setattr(registry, "settings_class", lambda n: FakeSettings if n == "fake" else real(n))
    monkeypatch.delenv("FAKE_DSN", raising=False)

    with pytest.raises(SiteError, match=r"^collectors\.nope: unknown collector \(known: "):
        _site("collectors: {nope: {}}")
    with pytest.raises(SiteError, match=r"^collectors\.sla: configured by the site's own keys"):
        _site("collectors: {sla: {dsn: '${X}'}}")
    with pytest.raises(SiteError, match=r"^collectors\.fake\.windw: unknown key"):
        _site("collectors: {fake: {dsn: '${FAKE_DSN}', windw: 2h}}")
    with pytest.raises(SiteError, match=r"^collectors\.fake\.dsn: password given as a literal"):
        _site("collectors: {fake: {dsn: 'postgresql://u:pw@db/x'}}")
    s = _site("collectors: {fake: {dsn_file: /nonexistent/dsn, window: 2h}}")  # the file is not read
    conf = exporter_config.exporter_configs(s)["exporters.yaml"]
    assert conf["collectors"]["fake"] == {"dsn_file": "/nonexistent/dsn", "window": "2h"}
    s = _site("collectors: {fake: {dsn: '${FAKE_DSN}'}}")
    assert exporter_config.exporter_configs(s)["exporters.yaml"]["collectors"]["fake"] == {"dsn": "${FAKE_DSN}"}
    assert "FAKE_DSN" not in __import__("os").environ

"""What the paged person reads: the golden renderings of every receiver's message (rendered by Alertmanager's own
template engine, amtool 0.25, from the generated template and alertmanager.yml fields), Telegram's HTML parsed
and checked for escaping and length, PagerDuty's fields, times in the site's zone, durations of resolved
incidents, the runbook page's anchors and the native stack's stand-in Grafana that opens every link."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from lookout.monitoring import generate, messages
from lookout.monitoring.catalog import build
from lookout.monitoring.notifications import FIELDS, TEMPLATE
from lookout.monitoring.site import load_site
from lookout.stack.boards import Boards

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / messages.OUT
KINDS = ("telegram.html", "pagerduty.json", "email.txt", "webhook.json")
TELEGRAM_LIMIT = 4096  # characters of text after entity parsing (Bot API sendMessage)
TELEGRAM_TAGS = {"b", "code", "a"}  # what the template writes; Telegram accepts these (and a few more)


@pytest.fixture(scope="module")
def demo():
    cat = build(load_site(ROOT / "examples" / "demo.yaml"))
    return cat, generate.panel_index(cat, generate.dashboards_json(cat))


def test_goldens_cover_every_receiver_and_match_a_fresh_rendering(demo) -> None:
    cat, panels = demo
    fresh = messages.render(cat, panels, TEMPLATE)
    assert {Path(p).name for p in fresh} == {f"{c}.{k}" for c in messages.SAMPLES for k in KINDS}
    for path, text in fresh.items():
        assert (ROOT / path).read_text() == text, f"{path} is stale: run `python -m lookout.monitoring generate`"


class _Telegram(HTMLParser):
    """Telegram's HTML mode: known tags only, balanced, `a` with an href only; collects the text as shown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in TELEGRAM_TAGS, tag
        if tag == "a":
            assert [k for k, _ in attrs] == ["href"], attrs
            self.hrefs.append(attrs[0][1] or "")
        else:
            assert not attrs, (tag, attrs)
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _telegram(text: str) -> _Telegram:
    p = _Telegram()
    p.feed(text)
    p.close()
    assert not p.stack, f"unclosed {p.stack}"
    return p


@pytest.mark.parametrize("case", list(messages.SAMPLES))
def test_telegram_html_parses_and_fits(case: str) -> None:
    text = (GOLDEN / f"{case}.telegram.html").read_text()
    p = _telegram(text)
    assert len("".join(p.text)) <= TELEGRAM_LIMIT
    assert p.hrefs or case == "resolved", "a page without links"
    # no entity survives parsing as a tag: a raw `<` or `&` outside markup would have failed Telegram's parser
    assert not re.search(r"&(?!(amp|lt|gt|#34|#39);)", text)


def test_telegram_escapes_hostile_label_values() -> None:
    text = (GOLDEN / "escaping.telegram.html").read_text()
    assert messages.HOSTILE not in text  # never written raw
    shown = "".join(_telegram(text).text)
    assert messages.HOSTILE in shown  # but shown as it is
    # and in links: the label enters the dashboard URL query-escaped, then HTML-escaped
    assert "var-service=web%3C1%3E+%26+%22blue%22+%27green%27" in _telegram(text).hrefs[1]


def test_telegram_stays_within_its_limit_for_a_large_group_of_long_labels(demo) -> None:
    cat, panels = demo
    long = {"service": "s<&>" * 120, "host": "h&" * 200}
    out = messages.render(cat, panels, TEMPLATE, {"big": (("WorkerPoolMasterDown",) * 40, "firing", long),
                                                  "bigresolved": (("WorkerPoolMasterDown",) * 40, "resolved", long)})
    for case in ("big", "bigresolved"):
        shown = "".join(_telegram(out[f"{messages.OUT}/{case}.telegram.html"]).text)
        assert len(shown) <= TELEGRAM_LIMIT, (case, len(shown))
    assert "... and 37 more firing" in out[f"{messages.OUT}/big.telegram.html"]


def test_pagerduty_severity_component_group_class() -> None:
    for case, severity in (("page", "critical"), ("ticket", "warning")):
        body = json.loads((GOLDEN / f"{case}.pagerduty.json").read_text())
        hook = json.loads((GOLDEN / f"{case}.webhook.json").read_text())
        labels = hook["commonLabels"]
        p = body["payload"]
        assert p["severity"] == severity
        assert (p["class"], p["component"], p["group"]) == (labels["alertname"], labels.get("service", ""),
                                                           labels.get("platform", ""))
        assert p["summary"].startswith(f"[FIRING:1] {severity} {labels['alertname']}")
    assert json.loads((GOLDEN / "resolved.pagerduty.json").read_text())["event_action"] == "resolve"


def test_page_says_what_where_how_bad_and_since_when() -> None:
    email = (GOLDEN / "ticket.email.txt").read_text()
    assert email.startswith("Subject: [FIRING:1] warning CeleryQueueBacklog")
    assert "Value: 150 messages, oldest 7m 0s (threshold > 100)" in email  # value, unit, companion, threshold
    assert "Where: host vps-1" in email and "Since: Tue 24 Nov 02:13 UTC" in email
    tg = "".join(_telegram((GOLDEN / "page.telegram.html").read_text()).text)
    assert "host vps-1, service mcp-server, since Tue 24 Nov 02:13 UTC" in tg


def test_resolved_says_how_long_it_lasted() -> None:
    assert "Lasted 18m45s (since Tue 24 Nov 02:13 UTC)" in (GOLDEN / "resolved.email.txt").read_text()
    assert "after 18m45s" in (GOLDEN / "resolved.telegram.html").read_text()


def test_grouped_alerts_list_critical_first_and_count_the_rest() -> None:
    email = (GOLDEN / "grouped.email.txt").read_text()
    listed = re.findall(r"^\* (.*)$", email, re.M)
    assert len(listed) == 5 and listed[:2] == ["A filesystem is almost full."] * 2  # the critical ones first
    assert "... and 3 more firing: http://127.0.0.1:9093" in email


def test_times_are_in_the_sites_time_zone(demo) -> None:
    cat, _ = demo
    site = dataclasses.replace(cat.site, alerting=dataclasses.replace(cat.site.alerting, timezone="Europe/Rome"))
    rome = build(site)
    panels = generate.panel_index(rome, generate.dashboards_json(rome))
    out = messages.render(rome, panels, TEMPLATE, {"page": messages.SAMPLES["page"]})
    assert "Since: Tue 24 Nov 03:13 CET" in out[f"{messages.OUT}/page.email.txt"]


def test_the_runbook_page_has_every_alerts_anchor(demo) -> None:
    cat, _ = demo
    page = (ROOT / "runbooks" / "index.html").read_text()
    for a in cat.alerts:
        assert f'id="{a.name.lower()}"' in page, a.name
    assert "<script" not in page


def test_stand_in_grafana_opens_runbooks_and_known_boards_only(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "index.html").write_text("<h2 id=\"x\">x</h2>")
    (tmp_path / "dashboards" / "json").mkdir(parents=True)
    (tmp_path / "dashboards" / "json" / "b.json").write_text(json.dumps({"uid": "lookout-b", "title": "B"}))
    b = Boards(tmp_path)
    b.start()
    try:
        get = lambda path: requests.get(b.url + path, timeout=5)  # noqa: E731
        assert get("/public/runbooks/index.html").text == "<h2 id=\"x\">x</h2>"
        assert get("/d/lookout-b/b?viewPanel=3&var-host=a").status_code == 200
        assert get("/d/lookout-nope/x").status_code == 404
        assert get("/public/runbooks/../secrets").status_code == 404
        assert get("/api/health").status_code == 200
    finally:
        b.stop()


def test_both_alertmanagers_send_pagerduty_the_same_dedup_key_and_fields(tmp_path: Path) -> None:
    """Two Alertmanagers (the HA pair, here unclustered so that both send) with the generated configuration and
    templates, PagerDuty pointed at the stand-in pager: the same alert gives the same event from each."""
    import shutil
    import time

    import yaml

    from lookout.stack.procs import Proc, free_port, port_open, wait_until
    from lookout.stack.receiver import Recorder

    am = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
    rec = Recorder()
    rec.start()
    conf = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    key = tmp_path / "routing_key"
    key.write_text("placeholder\n")
    for r in conf["receivers"]:
        for kind in ("webhook_configs", "telegram_configs", "email_configs"):
            r.pop(kind, None)
        for pd in r.get("pagerduty_configs", []):
            pd.update(url=f"{rec.url}/{r['name']}/pagerduty", routing_key_file=str(key))
    for route in [conf["route"], *conf["route"]["routes"]]:
        route.update({k: "1s" for k in ("group_wait", "group_interval") if k in route})
    shutil.copytree(ROOT / "alertmanager" / "templates", tmp_path / "templates")
    (tmp_path / "am.yml").write_text(yaml.safe_dump(conf))
    procs, ports = [], [free_port(), free_port()]
    try:
        for i, port in enumerate(ports):
            procs.append(Proc(f"am{i}", [am, f"--config.file={tmp_path / 'am.yml'}",
                                         f"--storage.path={tmp_path / f'd{i}'}",
                                         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                                         f"--web.external-url=http://127.0.0.1:{ports[0]}"],
                              tmp_path / f"am{i}.log", {"TZ": "Europe/Rome"}))
            procs[-1].start()
        for p, port in zip(procs, ports, strict=True):
            wait_until(lambda port=port: port_open(port) and requests.get(f"http://127.0.0.1:{port}/-/ready",
                                                                          timeout=2).ok, 30, p.name, [p])
        alert = [{"labels": {"alertname": "McpServerDown", "severity": "critical", "service": "mcp-server",
                             "platform": "voice", "host": "vps-1"},
                  "annotations": {"summary": "The MCP tool server does not answer its health check.",
                                  "runbook_url": "http://r#mcpserverdown", "dashboard_url": "http://d"},
                  "startsAt": "2026-11-24T02:13:07Z"}]
        for port in ports:
            requests.post(f"http://127.0.0.1:{port}/api/v2/alerts", json=alert, timeout=5).raise_for_status()
        deadline = time.monotonic() + 30
        while len([n for n in rec.snapshot() if n.kind == "pagerduty"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        events = [n.body for n in rec.snapshot() if n.kind == "pagerduty"]
        assert len(events) >= 2, events
        assert len({e["dedup_key"] for e in events}) == 1
        p = events[0]["payload"]
        assert (p["severity"], p["class"], p["component"], p["group"]) == ("critical", "McpServerDown", "mcp-server",
                                                                           "voice")
        assert "Since: Tue 24 Nov 03:13 CET" in p["custom_details"]["firing"]  # the Alertmanager's TZ
        assert events[0]["client_url"].startswith(f"http://127.0.0.1:{ports[0]}")  # --web.external-url
    finally:
        for p in procs:
            p.stop()
        rec.stop()


def test_telegram_cuts_by_characters_never_inside_an_entity() -> None:
    """The golden `cut` case: Cyrillic and accented names past the cut, `&` and `<` near it, a group too large."""
    raw = (GOLDEN / "cut.telegram.html").read_bytes()
    text = raw.decode("utf-8")  # strict: a character split by a byte cut would fail here
    assert len(text) <= TELEGRAM_LIMIT  # the HTML itself: Alertmanager 0.25 would cut it anywhere past 4,096
    _telegram(text)
    assert not re.search(r"&[#0-9a-z]{0,4}(?![#0-9a-z;])", text.replace("&amp;", "").replace("&lt;", "")
                         .replace("&gt;", "").replace("&#34;", "").replace("&#39;", ""))
    hook = json.loads((GOLDEN / "cut.webhook.json").read_text())
    service, host = hook["commonLabels"]["service"], hook["commonLabels"]["host"]
    # the title: "... </b> <service cut>… N more on <host cut>… M more"; N and M count characters as shown
    m = re.match(r"^<b>[^\n]*</b> (.*?)… (\d+) more on (.*?)… (\d+) more$", text.splitlines()[0])
    assert m, text.splitlines()[0]
    for label, cut, more in ((service, m.group(1), m.group(2)), (host, m.group(3), m.group(4))):
        shown = html.unescape(cut)
        assert label.startswith(shown) and len(label) - len(shown) == int(more), (label, cut, more)
    assert "... and 4 more firing" in text


def test_telegram_html_stays_within_its_limit_for_firing_and_resolved_at_their_longest(demo, tmp_path) -> None:
    """Every label, annotation and link at its longest (entities everywhere), firing and resolved in one group too
    large to list: the HTML Alertmanager sends stays under 4,096 characters (it would cut it anywhere past that,
    inside a tag or an entity)."""
    cat, panels = demo
    long = {"service": "&<é" * 300, "host": "ß&" * 300, "instance": "i" * 300}
    data = messages.sample_data(cat, panels, {"big": (("WorkerPoolMasterDown",) * 8, "firing", long)})["big"]
    for a in data["alerts"]:
        a["labels"]["alertname"] = "A&" * 300
        a["annotations"] = {k: v + "&" * 400 for k, v in {**a["annotations"], "value": "1", "threshold": "> 0"}.items()}
        a["generatorURL"] += "&x=" + "y" * 2000
    for a in data["alerts"][5:]:
        a.update(status="resolved", endsAt=messages.END)
    data["commonLabels"] = dict(data["alerts"][0]["labels"])
    data["externalURL"] = "http://" + "e" * 300
    tmpl = tmp_path / "templates"
    tmpl.mkdir()
    (tmpl / "lookout.tmpl").write_text(TEMPLATE)
    (tmp_path / "data.json").write_text(json.dumps(data))
    got = messages._render_fields(messages._amtool(), tmpl, tmp_path / "data.json",
                                  {"m": FIELDS["telegram"]["message"]}, "UTC")["m"]
    assert len(got) <= TELEGRAM_LIMIT, len(got)
    _telegram(got)
    assert len(re.findall(r"^Value: ", got, re.M)) == 3
    assert "... and 2 more firing" in got and "... and 3 more resolved" in got


def test_a_site_sets_its_own_runbook_base_and_docs_show_page_and_ticket_on_every_receiver() -> None:
    ha = load_site(ROOT / "examples" / "ha.yaml")
    cat = build(ha)
    panels = generate.panel_index(cat, generate.dashboards_json(cat))
    ann = generate.annotations(cat, cat.alerts_by_name["HostDown"], panels)
    assert ann["runbook_url"] == f"{ha.alerting.runbooks}#hostdown" and not ann["runbook_url"].startswith("http://localhost")
    doc = (ROOT / "docs" / "alerts.md").read_text()
    for title in ("## A page (critical)", "## A ticket (warning)"):
        section = doc.split(title, 1)[1].split("\n## ", 1)[0]
        assert all(k in section for k in ("Telegram", "PagerDuty", "E-mail")), title

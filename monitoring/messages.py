"""Golden renderings of what each receiver sends for a sample of the catalog's alerts, rendered by Alertmanager's
own template engine (``amtool template render``, Alertmanager 0.25) from the generated template file and the
exact field templates of the generated alertmanager.yml (``lookout.monitoring.notifications.FIELDS``).

Reads: a ``Catalog``, its panel index and the generated ``alertmanager/templates/lookout.tmpl`` text.
Publishes ``SAMPLES`` (case -> how it is built), ``sample_data(cat, panels)`` (case -> Alertmanager's template
data, as its webhook receives it) and ``render(cat, panels, template)`` -> repository path -> text, written by
``python -m lookout.monitoring generate`` under ``alertmanager/tests/messages/`` (the demo site only: a user's
``lookout generate`` does not need amtool), and ``alerts_md`` (docs/alerts.md) from them. Times are rendered
in the site's time zone (``TZ``), as the Alertmanagers run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from lookout.exporters.config import Duration
from lookout.monitoring.catalog import Catalog
from lookout.monitoring.generate import _fire_labels, annotations
from lookout.monitoring.model import Alert
from lookout.monitoring.notifications import FIELDS
from lookout.monitoring.templating import render as render_template

OUT = "alertmanager/tests/messages"
START = "2026-11-24T02:13:07Z"  # a night page
END = "2026-11-24T02:31:52Z"
NEVER = "0001-01-01T00:00:00Z"
# a label value a hostile or careless exporter could produce: escaped, never markup
HOSTILE = 'web<1> & "blue" \'green\''
# case -> (alert names, status, override labels); alerts of a case are grouped as Alertmanager groups them
SAMPLES: dict[str, tuple[tuple[str, ...], str, dict[str, str]]] = {
    "page": (("McpServerDown",), "firing", {}),
    "ticket": (("CeleryQueueBacklog",), "firing", {}),
    "workers": (("WorkerPoolWorkersBelowExpected",), "firing", {}),  # a value beside another: "3 of 4 workers"
    "resolved": (("McpServerDown",), "resolved", {}),
    "escaping": (("WorkerPoolMasterDown",), "firing", {"service": HOSTILE, "host": HOSTILE}),
    "grouped": (("HostDiskSpaceLow",) * 6 + ("HostDiskSpaceCritical",) * 2, "firing", {}),
    # names past Telegram's cut, in Cyrillic and accented Latin (several bytes a character), with entities
    # near the cut, in a group too large to list
    "cut": (("WorkerPoolMasterDown",) * 7, "firing", {"service": "чат-платформа & «голос» " * 4,
                                                      "host": "hôte-ÿ<é>-" * 8}),
}


def _amtool() -> str:
    found = shutil.which("amtool") or ("/usr/bin/amtool" if Path("/usr/bin/amtool").exists() else None)
    if not found:
        raise FileNotFoundError("amtool not found (Debian's prometheus-alertmanager): run scripts/install-deps")
    return found


def _alert(cat: Catalog, a: Alert, panels: dict[tuple[str, str], str], status: str, i: int,
           over: dict[str, str]) -> dict[str, Any]:
    labels = {**_fire_labels(a), **over}
    labels.setdefault("host", cat.site.hosts[0].name)
    if i and "instance" in labels:  # the grouped case: several instances of one alert
        labels["instance"] = f"{labels['instance'].split(':')[0]}-{i}:{labels['instance'].rsplit(':', 1)[-1]}"
    if i and "mountpoint" in labels:
        labels["mountpoint"] = f"/srv/data{i}"
    # as Prometheus renders them at the fire case's evaluation (its series answer the companion values' queries)
    step = round(Duration.parse(a.fire.at) / Duration.parse(a.fire.interval))
    ann = {k: render_template(v, labels, a.fire.value, a.fire.series, step)
           for k, v in annotations(cat, a, panels).items()}
    full = {"alertname": a.name, **labels, "severity": a.severity, **a.keep_labels}
    fp = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:16]
    prom = cat.site.prometheus_external_url.rstrip("/")
    return {"status": status, "labels": full, "annotations": ann, "startsAt": START,
            "endsAt": END if status == "resolved" else NEVER,
            "generatorURL": f"{prom}/graph?g0.expr={a.name}&g0.tab=1", "fingerprint": fp}


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    return {k: v for k, v in dicts[0].items() if all(d.get(k) == v for d in dicts[1:])}


Samples = dict[str, tuple[tuple[str, ...], str, dict[str, str]]]


def sample_data(cat: Catalog, panels: dict[tuple[str, str], str], samples: Samples | None = None
                ) -> dict[str, dict[str, Any]]:
    out = {}
    for case, (names, status, over) in (samples or SAMPLES).items():
        if not all(n in cat.alerts_by_name for n in names):
            continue  # the site does not have these alerts
        alerts = [_alert(cat, cat.alerts_by_name[n], panels, status, i, over) for i, n in enumerate(names)]
        common = _common([a["labels"] for a in alerts])
        severity = common.get("severity", "")
        group = {k: common[k] for k in ("alertname", "platform", "service") if k in common}
        out[case] = {
            "receiver": {"critical": "page", "warning": "ticket"}.get(severity, "page"), "status": status,
            "alerts": alerts, "groupLabels": group, "commonLabels": common,
            "commonAnnotations": _common([a["annotations"] for a in alerts]),
            "externalURL": cat.site.alertmanager_external_url.rstrip("/"),
        }
    return out


def _render_fields(amtool: str, tmpl_dir: Path, data: Path, fields: dict[str, str], tz: str) -> dict[str, str]:
    """Each field's template, rendered by one amtool call (fields split by a marker line)."""
    marker = "\n@@lookout-field@@\n"
    text = marker.join(fields.values())
    r = subprocess.run([amtool, "template", "render", f"--template.glob={tmpl_dir}/*.tmpl",
                        f"--template.data={data}", f"--template.text={text}"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": tz})
    if r.returncode != 0:
        raise RuntimeError(f"amtool template render: {r.stderr.strip()}")
    parts = r.stdout.split(marker)
    if len(parts) != len(fields):
        raise RuntimeError("amtool template render: a field's output contains the marker")
    return dict(zip(fields, parts, strict=True))


def _pagerduty(f: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    """The fields of the Events API v2 body Alertmanager builds from these templates (it adds the routing and
    dedup keys: the hash of the group key, the same on both replicas)."""
    return {
        "event_action": "trigger" if data["status"] == "firing" else "resolve",
        "payload": {"summary": f["description"], "severity": f["severity"], "class": f["class"],
                    "component": f["component"], "group": f["group"],
                    "custom_details": {"summary": f["details.summary"], "firing": f["details.firing"]}},
        "links": [{"href": f["links.dashboard"], "text": "dashboard"}, {"href": f["links.runbook"], "text": "runbook"}],
    }


def render(cat: Catalog, panels: dict[tuple[str, str], str], template: str, samples: Samples | None = None
           ) -> dict[str, str]:
    amtool = _amtool()
    tz = cat.site.alerting.timezone
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="lookout-messages-") as d:
        tmpl_dir = Path(d) / "templates"
        tmpl_dir.mkdir()
        (tmpl_dir / "lookout.tmpl").write_text(template)
        for case, data in sample_data(cat, panels, samples).items():
            path = Path(d) / f"{case}.json"
            path.write_text(json.dumps(data))
            fields = {f"{kind}.{k}": v for kind, fs in FIELDS.items() for k, v in fs.items()}
            got = _render_fields(amtool, tmpl_dir, path, fields, tz)
            by_kind = {kind: {k: got[f"{kind}.{k}"] for k in fs} for kind, fs in FIELDS.items()}
            out[f"{OUT}/{case}.telegram.html"] = by_kind["telegram"]["message"] + "\n"
            out[f"{OUT}/{case}.pagerduty.json"] = json.dumps(_pagerduty(by_kind["pagerduty"], data), indent=2) + "\n"
            out[f"{OUT}/{case}.email.txt"] = (f"Subject: {by_kind['email']['headers.Subject']}\n\n"
                                              f"{by_kind['email']['text']}")
            out[f"{OUT}/{case}.webhook.json"] = json.dumps({"version": "4", **data}, indent=2) + "\n"
    return out


class _Shown(HTMLParser):
    """Telegram's HTML as the chat shows it: tags gone, entities decoded, links as ``text <url>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.href = dict(attrs).get("href") if tag == "a" else self.href

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.href:
            self.out.append(f" <{self.href}>")
            self.href = None

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def shown(telegram_html: str) -> str:
    p = _Shown()
    p.feed(telegram_html)
    return "".join(p.out)


def alerts_md(files: dict[str, str], site_name: str) -> str:
    """docs/alerts.md: what a page and a ticket look like on each receiver, from the golden renderings."""
    def get(case: str, kind: str) -> str:
        return files[f"{OUT}/{case}.{kind}"].rstrip("\n")

    out = [
        "<!-- Generated by `python -m lookout.monitoring generate` from the golden renderings in "
        f"{OUT}/; do not edit by hand. -->\n\n",
        "# What the on-call engineer receives\n\n",
        f"Rendered by Alertmanager 0.25's own template engine (`amtool template render`) from the generated "
        f"`alertmanager/templates/lookout.tmpl` and the fields of `alertmanager/alertmanager.yml`, for the site "
        f"`{site_name}` (`examples/demo.yaml`), with each alert's promtool fire case as its data. The same files, "
        f"checked in under `{OUT}/`, are the golden tests (`tests/test_messages.py`); `python -m lookout.monitoring "
        "generate` rewrites them and this page.\n\n",
        "Every message says **what** (the alert and its summary, severity in the title), **where** (host and "
        "service), **how bad** (the value Prometheus computed and the threshold it crossed) and **since when** "
        "(the start, in the site's `alerting.timezone`: the Alertmanagers run with `TZ` set from the generated "
        "`lookout.env`). A resolved message says how long the incident lasted.\n\n",
        "## Links that open\n\n",
        "- **Runbook**: `<alerting.runbook_url>#<alert>`. Unset, the generated `runbooks/index.html` as Grafana "
        "serves it: compose mounts it into Grafana's static directory, so `<grafana_url>/public/runbooks/"
        "index.html#<alert>` opens wherever Grafana opens (systemd installs: docs/install.md). One page, one "
        "anchor per alert; a site may point `runbook_url` at its own wiki instead.\n"
        "- **Dashboard**: the alert's panel (`viewPanel`) with the board's variable (`host`, `service`, "
        "`platform`, `instance`) set from the alert's labels.\n"
        "- **Query** (`generatorURL`) and the Alertmanager link: Prometheus and the Alertmanagers run with "
        "`--web.external-url` from `alerting.prometheus_url` / `alerting.alertmanager_url` (defaults: "
        "`http://<monitoring.prometheus>`, `http://<monitoring.alertmanagers[0]>`; the demo: its loopback "
        "ports).\n\n",
        "## The value and the threshold\n\n",
        "Every alert of the catalog declares how its value reads (`value=`, beside the alert in "
        "`monitoring/catalog/alerts/`, with the words of `monitoring/values.py`): `count(\"messages\")` "
        "(`1,240 messages`), `ratio(\"free\")` (`12.5% free`), `duration(\"waiting\")` (`7m 0s waiting`), "
        "`amount(\"days\")` (`3.5 days`), a second value read by Prometheus' `query` when the notification is "
        "rendered (`1,240 messages, oldest 7m 0s`, `3 of 4 workers`), or `NO_VALUE` when the state says it all "
        "(`up == 0`). The generator refuses an alert that declares none. The threshold is the comparison the "
        "threshold was written into (`> 100`).\n\n",
        "## Limits\n\n",
        "- Telegram: 4,096 characters after entity parsing, and Alertmanager 0.25 cuts the HTML it sends at "
        "4,096 characters wherever they fall, so the HTML itself stays under that: the message lists 3 alerts "
        "(firing, critical first, then resolved) and counts the rest; every label and annotation is HTML-escaped "
        "(a label value `web<1> & \"blue\"` cannot break the markup: see *Escaping* below), then cut by "
        "characters, never inside an entity, to 120 (a summary), 240 (a description) or 48 (a label, a value) with "
        "`… N more`; a link longer than 160 characters keeps only its scheme, host and path (see *Cut* below).\n"
        "- E-mail and PagerDuty details: the first 5 alerts, critical first, then a count and the Alertmanager "
        "link. PagerDuty truncates its summary to 1,024 characters itself.\n"
        "- PagerDuty Events v2: `severity` critical -> `critical`, warning -> `warning`; `class` = alert name, "
        "`component` = service, `group` = platform; the dedup key is Alertmanager's hash of the group key "
        "(alert name, platform, service), the same on both replicas.\n"
        "- Webhooks get Alertmanager's JSON: the annotations `value`, `threshold`, `runbook_url`, "
        "`dashboard_url` are in every alert.\n\n",
    ]
    for case, title in (("page", "A page (critical)"), ("ticket", "A ticket (warning)"),
                        ("resolved", "Resolved"), ("grouped", "Several alerts in one notification")):
        if f"{OUT}/{case}.email.txt" not in files:
            continue
        out.append(f"## {title}\n\n")
        tg, pd = shown(get(case, "telegram.html")), get(case, "pagerduty.json")
        out.append(f"Telegram, as the chat shows it (links after their text):\n\n```text\n{tg}\n```\n\n")
        if case in ("page", "ticket", "resolved"):
            out.append(f"PagerDuty (Events API v2 body without the keys):\n\n```json\n{pd}\n```\n\n")
        out.append(f"E-mail:\n\n```text\n{get(case, 'email.txt')}\n```\n\n")
    if f"{OUT}/cut.telegram.html" in files:
        out.append("## Cut\n\nSeven alerts with names past the cut (Cyrillic, accented, with `&` and `<`), on "
                   f"Telegram as the chat shows it:\n\n```text\n{shown(get('cut', 'telegram.html'))}\n```\n\n")
    if f"{OUT}/escaping.telegram.html" in files:
        out.append("## Escaping\n\nA label value `" + HOSTILE + "` in Telegram's HTML, as sent:\n\n"
                   f"```html\n{get('escaping', 'telegram.html')}\n```\n")
    return "".join(out)

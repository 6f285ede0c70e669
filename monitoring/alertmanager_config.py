"""Alertmanager configuration of a site: its receivers (webhook, e-mail, PagerDuty, Telegram), quiet hours,
the severity routes and inhibitions of the catalog and the route test cases.

Reads: a ``Catalog`` (its site's ``alerting`` and its alerts) and the receivers' message templates
(``lookout.monitoring.notifications``). Publishes ``alertmanager_yml(cat)``, ``route_cases(cat)``
(``amtool config routes test`` cases) and ``URL_FILE_PLACEHOLDER``. Targets Alertmanager 0.25 (Debian 12):
secrets it cannot read from a file are placeholders the runbooks explain.
"""

from __future__ import annotations

from typing import Any

from lookout.monitoring.catalog import Catalog, routing
from lookout.monitoring.notifications import FIELDS
from lookout.monitoring.site import Receiver
from lookout.monitoring.sitebind import FileRef

URL_FILE_PLACEHOLDER = "https://url-file.invalid"  # + the file's path; see _secrets_md


def _webhook(w: Any) -> dict[str, Any]:
    # Alertmanager 0.25 (Debian 12) has no webhook `url_file` (0.26 has): a placeholder naming the file
    url = f"{URL_FILE_PLACEHOLDER}{w.url}" if isinstance(w.url, FileRef) else str(w.url)
    return {"url": url, "send_resolved": True, "max_alerts": 0}


def _pagerduty(routing_key_file: str) -> dict[str, Any]:
    f = FIELDS["pagerduty"]
    # the dedup key is Alertmanager's hash of the group key: the same on both replicas of the same configuration
    return {
        "routing_key_file": routing_key_file, "send_resolved": True,
        "description": f["description"], "severity": f["severity"], "class": f["class"],
        "component": f["component"], "group": f["group"],
        "links": [{"href": f["links.dashboard"], "text": "dashboard"}, {"href": f["links.runbook"], "text": "runbook"}],
        "details": {"summary": f["details.summary"], "firing": f["details.firing"]},
    }


def _telegram(chat_id: int) -> dict[str, Any]:
    return {"bot_token": routing.TELEGRAM_BOT_TOKEN_PLACEHOLDER, "chat_id": chat_id,
            "parse_mode": "HTML", "message": FIELDS["telegram"]["message"], "send_resolved": True}


def _email(e: Any) -> dict[str, Any]:
    f = FIELDS["email"]
    out = {"to": e.to, "from": e.from_address, "smarthost": e.smarthost, "send_resolved": True,
           "headers": {"Subject": f["headers.Subject"]}, "text": f["text"]}
    if e.auth_username:
        out["auth_username"] = e.auth_username
    if e.auth_password_file:
        out["auth_password_file"] = str(e.auth_password_file)
    return out


def _receiver(name: str, r: Receiver | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if r is None:
        return out
    if r.webhooks:
        out["webhook_configs"] = [_webhook(w) for w in r.webhooks]
    if r.email:
        out["email_configs"] = [_email(r.email)]
    if r.pagerduty:
        out["pagerduty_configs"] = [_pagerduty(str(r.pagerduty.routing_key_file))
                                    | ({"url": r.pagerduty.url} if r.pagerduty.url else {})]
    if r.telegram:
        out["telegram_configs"] = [_telegram(r.telegram.chat_id)
                                   | ({"api_url": r.telegram.api_url} if r.telegram.api_url else {})]
    return out


QUIET = "quiet-hours"


def _time_intervals(cat: Catalog) -> list[dict[str, Any]]:
    al = cat.site.alerting
    if not al.quiet_hours:
        return []
    intervals = []
    for q in al.quiet_hours:
        spans = ([{"start_time": q.start, "end_time": q.end}] if q.start < q.end else
                 [{"start_time": q.start, "end_time": "24:00"}, {"start_time": "00:00", "end_time": q.end}])
        for span in spans:
            item: dict[str, Any] = {"times": [span], "location": al.timezone}
            if q.weekdays:
                item["weekdays"] = list(q.weekdays)
            intervals.append(item)
    return [{"name": QUIET, "time_intervals": intervals}]


def alertmanager_yml(cat: Catalog) -> dict[str, Any]:
    receivers = cat.site.alerting.receivers
    quiet = _time_intervals(cat)
    ticket_route: dict[str, Any] = {"receiver": "ticket", "matchers": ['severity="warning"']}
    if quiet:
        ticket_route["mute_time_intervals"] = [QUIET]
    out: dict[str, Any] = {
        "global": {"resolve_timeout": "5m"},
        "templates": ["templates/*.tmpl"],
        "route": {
            "receiver": "ticket",
            "group_by": ["alertname", "platform", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {"receiver": routing.HEARTBEAT_RECEIVER, "matchers": ['alertname="Watchdog"'], "group_wait": "0s",
                 "group_interval": "1m", "repeat_interval": "1m"},
                {"receiver": "page", "matchers": ['severity="critical"'], "group_wait": "10s",
                 "repeat_interval": "1h"},
                ticket_route,
                {"receiver": "blackhole", "matchers": ['severity="info"']},
            ],
        },
        "inhibit_rules": cat.inhibitions,
        "receivers": [
            _receiver("page", receivers.page),
            _receiver("ticket", receivers.ticket),
            _receiver(routing.HEARTBEAT_RECEIVER, receivers.heartbeat),
            {"name": "blackhole"},
        ],
    }
    if quiet:
        out["time_intervals"] = quiet
    return out


def route_cases(cat: Catalog) -> list[dict[str, Any]]:
    """`amtool config routes test` cases: every severity and every alert reaches its receiver."""
    cases = [{"labels": {"alertname": "Watchdog", "severity": "info"}, "receiver": routing.HEARTBEAT_RECEIVER}]
    for sev, receiver in routing.RECEIVER_OF_SEVERITY.items():
        cases.append({"labels": {"alertname": "AnyAlert", "severity": sev}, "receiver": receiver})
    cases.append({"labels": {"alertname": "NoSeverity"}, "receiver": "ticket"})
    for a in cat.alerts:
        if a.name != "Watchdog":
            cases.append({"labels": {"alertname": a.name, "severity": a.severity},
                          "receiver": routing.RECEIVER_OF_SEVERITY[a.severity]})
    return cases

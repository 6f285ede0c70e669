"""Checks of what the stand-in pager received from a running stack: every link opens, every value shown is the
alert's value in Prometheus at that time.

Reads: ``lookout.stack.receiver.Notification`` objects (webhook, Telegram, PagerDuty bodies as Alertmanager sent them)
and a running ``lookout.stack.native.Stack``. Publishes ``links(n)``, ``check_links(notifications)``,
``parse_human(text)`` (the inverse of Prometheus' humanize functions, as far as a comparison needs) and
``check_values(stack, notifications)``; each check returns a list of problems (empty: all good).
"""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import requests

from lookout.monitoring.values import WHOLE
from lookout.stack.receiver import Notification


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if tag == "a" and k == "href" and v]


def links(n: Notification) -> list[str]:
    """Every URL a person could open in this notification."""
    body: Any = n.body if isinstance(n.body, dict) else {}
    out: list[str] = []
    if isinstance(body.get("alerts"), list):  # webhook
        out.append(body.get("externalURL", ""))
        for a in body["alerts"]:
            ann = a.get("annotations", {})
            out += [ann.get("runbook_url", ""), ann.get("dashboard_url", ""), a.get("generatorURL", "")]
    elif "text" in body:  # Telegram sendMessage
        p = _Hrefs()
        p.feed(str(body["text"]))
        out += p.hrefs
    elif body.get("event_action"):  # PagerDuty Events v2
        out += [link.get("href", "") for link in body.get("links", [])] + [body.get("client_url", "")]
    return [u for u in out if u]


def check_links(notifications: list[Notification], timeout: float = 10) -> tuple[int, list[str]]:
    """(URLs opened, problems): each answers 200; a runbook's anchor is on its page."""
    urls = sorted({u for n in notifications for u in links(n)})
    problems = []
    for url in urls:
        try:
            r = requests.get(url, timeout=timeout)
        except requests.RequestException as exc:
            problems.append(f"{url}: {type(exc).__name__}")
            continue
        if r.status_code != 200:
            problems.append(f"{url}: HTTP {r.status_code}")
            continue
        fragment = urlsplit(url).fragment
        # a runbook anchor (not a web app's route, as Alertmanager's `#/alerts?...`)
        if re.fullmatch(r"[a-z0-9_-]+", fragment) and f'id="{fragment}"' not in r.text:
            problems.append(f"{url}: no anchor #{fragment} on the page")
    return len(urls), problems


_SI = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3, "u": 1e-6, "n": 1e-9,
       "ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}
_DURATION = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}


def parse_human(text: str) -> float | None:
    """The number a humanize* function printed (``1.5k``, ``2.5%``, ``5m 0s``, ``1.2GiB``, ``3 days``), or the
    first number of a value text of monitoring/values.py (``1,240 messages, oldest 7m 0s``, ``7m 0s waiting``)."""
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text.strip())  # thousands separators
    lead = re.match(r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(d|h|ms|us|m|s)(\s+|$))+", text)
    parts = re.findall(r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)(d|h|ms|us|m|s)\b", lead.group(0)) if lead else []
    # humanizeDuration always ends in seconds ("5m 0s", "25ms"); a lone "25m" is humanize's milli
    if parts and parts[-1][1] in ("s", "ms", "us"):
        return sum(float(v) * _DURATION[u] for v, u in parts)
    # a prefix sticks to its number ("1.5k", "2GiB"); "150 messages" is 150, not 150 milli
    m = re.match(r"^(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)(%|(?:ki|Mi|Gi|Ti)(?=B?\b)|[kMGTmun](?![A-Za-z]))?", text)
    if not m:
        return None
    v = float(m.group(1))
    unit = m.group(2) or ""
    return v / 100 if unit == "%" else v * _SI[unit]


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-9


def check_values(stack: Any, notifications: list[Notification], step: float = 2, rel: float = 0.05
                 ) -> tuple[int, list[str]]:
    """(values compared, problems): the ``value`` annotation of each firing alert in a webhook notification is the
    alert expression's value for the alert's labels at some evaluation in the minute before it was received
    (humanize keeps 4 significant digits; rates move between evaluations: ``rel`` tolerance; a count printed
    whole, ``printf "%.0f"``, is ``increase()``'s extrapolated value rounded: 1.385 reads "1")."""
    rules = stack.alert_rules()
    compared, problems = 0, []
    for n in notifications:
        body = n.body if isinstance(n.body, dict) else {}
        for a in body.get("alerts", []) if n.kind == "webhook" else []:
            name, shown = a["labels"].get("alertname"), a.get("annotations", {}).get("value")
            rule = rules.get(name)
            template = (rule or {}).get("annotations", {}).get("value", "")
            if a.get("status") != "firing" or not shown or not template.startswith("{{ $value"):
                continue  # resolved, valueless, or a value written by the catalog from something else
            want = parse_human(shown)
            whole = template.startswith(WHOLE)  # values.count(): printed rounded
            start = datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00")).timestamp()
            data = stack.api("/api/v1/query_range", query=rule["expr"], start=max(start, n.received_at - 60) - step,
                             end=n.received_at, step=step)["result"]
            # `metric > 3` keeps the metric's name, which the alert does not carry
            series = [s for s in data if all(a["labels"].get(k) == v for k, v in s["metric"].items()
                                             if k != "__name__")]
            seen = [float(v) for s in series for _, v in s["values"]]
            compared += 1
            if want is None or not any(_close(want, round(v) if whole else v, rel) for v in seen):
                problems.append(f"{name} {a['labels']}: shows {shown!r} ({want}), Prometheus had {seen[-10:]}")
    return compared, problems


def check_pagerduty_dedup(notifications: list[Notification]) -> list[str]:
    """Each PagerDuty incident (class, component, group: the group labels) has one dedup key, whichever
    Alertmanager replica sent it, and a resolve carries the key of a trigger."""
    keys: dict[tuple[str, str, str], set[str]] = {}
    resolves = []
    for n in notifications:
        body = n.body if isinstance(n.body, dict) else {}
        if n.kind != "pagerduty" or not body.get("event_action"):
            continue
        if body["event_action"] == "trigger":
            p = body.get("payload") or {}
            keys.setdefault((p.get("class", ""), p.get("component", ""), p.get("group", "")), set()).add(
                body.get("dedup_key", ""))
        else:
            resolves.append(body.get("dedup_key", ""))
    problems = [f"{k}: dedup keys {sorted(v)}" for k, v in keys.items() if len(v) != 1 or "" in v]
    known = {k for v in keys.values() for k in v}
    return problems + [f"resolve with unknown dedup key {k!r}" for k in resolves if known and k not in known]

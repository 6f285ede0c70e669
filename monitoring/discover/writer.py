"""Renders ``lookout discover``'s findings: the commented starter site file, the summary table, JSON.

Reads: a ``Findings``. Publishes: ``site_text(f)`` (deterministic: the same findings give the same bytes; no
PID, time or secret in it), ``table(f)`` and ``as_json(f)``. ``HEADER`` starts every file discover writes, so
``--out`` never overwrites a file a person wrote.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict
from typing import Any

import yaml

from lookout.monitoring.discover import DatabaseOut, Findings, RedisOut, ServiceOut

FOUND_WIDTH = 72
HEADER = "# lookout site file: a starter written by `lookout discover`"


def _v(value: Any) -> str:
    """One YAML scalar or flow collection, quoted only when YAML needs it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _kv(indent: int, key: str, value: Any, comment: str | None = None) -> str:
    line = f"{' ' * indent}{key}: {_v(value)}"
    return f"{line}  # {comment}" if comment else line


def _once(said: set[str], key: str, comment: str | None) -> str | None:
    """A comment that explains a key is written on its first occurrence only."""
    if comment is None or key in said:
        return None
    said.add(key)
    return comment


def _service(s: ServiceOut, host: str, said: set[str]) -> list[str]:
    out = [f"  - name: {_v(s.name)}", _kv(4, "host", host), _kv(4, "kind", s.kind),
           _kv(4, "platform", s.platform, _once(said, "platform", "the product it belongs to (services in one "
                                                                  "working directory are one)"))]
    if s.match is not None:
        out.append(_kv(4, "match", s.match, _once(said, "match", "text of the master's command line that selects "
                                                                 "it and nothing else on the host today")))
    if s.port is not None:
        out.append(_kv(4, "port", s.port))
    if s.workers is not None:
        out.append(_kv(4, "workers", s.workers, s.workers_comment))
    if s.health_url:
        out.append(_kv(4, "health_url", s.health_url))
    if s.metrics_path:
        out.append(_kv(4, "metrics", {"path": s.metrics_path}, "answers in the Prometheus format"))
    if s.nginx_log:
        out.append(_kv(4, "nginx_log", True, "Nginx proxies to this port"))
    if s.unit:
        out.append(_kv(4, "unit", s.unit))
    if s.cwd:
        out.append(f"    # working directory: {s.cwd}")
    if s.commented:
        return [f"  # not written: {s.commented}"] + [f"  #{line[1:]}" for line in out]
    return out


def _database(d: DatabaseOut, host: str) -> list[str]:
    out = [f"  - name: {_v(d.name)}", _kv(4, "host", host), _kv(4, "platform", d.platform),
           _kv(4, "dsn", d.dsn, d.dsn_comment)]
    if d.version:
        out.append(_kv(4, "version", d.version))
    if d.unit:
        out.append(_kv(4, "unit", d.unit))
    on = [c for c, why in d.checks.items() if why is None]
    out.append("    checks:" if on else "    # checks:  none enabled; uncomment this line with a check")
    for check, why in d.checks.items():
        off = f"      # {check}: {{}}" if on else f"    #   {check}: {{}}"
        out.append(f"      {check}: {{}}" if why is None else f"{off}  # {why}")
    return out


def _redis(r: RedisOut, host: str) -> list[str]:
    out = [f"  - name: {_v(r.name)}", _kv(4, "host", host), _kv(4, "url", r.url, r.url_comment)]
    if r.unit:
        out.append(_kv(4, "unit", r.unit))
    if r.version:
        out.append(f"    # Redis {r.version}")
    if r.queues is not None:
        out.append("    celery:")
        out.append(_kv(6, "queues", r.queues))
        if r.beat:
            out.append("      beat_schedule:")
            out += [_kv(8, k, v) for k, v in r.beat.items()]
        for c in r.beat_comments:
            out.append(f"      # {c}")
    return out


def site_text(f: Findings) -> str:
    h = f.host
    lines = [
        f"{HEADER} on {h} from what ran there.",
        "# Every key: docs/site.md. Review it (the summary `lookout discover` printed lists what it could not",
        "# decide), set the alert receivers at the end, then:",
        "#   lookout check --site FILE --probe && lookout generate --site FILE --out DIR",
        f"name: {_v(h)}",
        "",
        "hosts:",
        f"  - name: {_v(h)}",
        "    address: 127.0.0.1",
        _kv(4, "vcpus", f.vcpus),
        _kv(4, "memory", f.memory),
        _kv(4, "disk", f.disk),
    ]
    kinds = {"gunicorn": 0, "uvicorn": 1, "http": 2, "celery_worker": 3, "celery_beat": 4}
    written = [s for s in f.services if not s.commented]
    said: set[str] = set()
    for section, items in (("services", sorted(f.services, key=lambda s: (kinds[s.kind], s.name))),
                           ("databases", f.databases), ("redis", f.redis)):
        if not items:
            lines += ["", f"{section}: []  # none found"]
            continue
        header = f"{section}:" if (section != "services" or written) else f"{section}: []  # none could be written"
        lines += ["", header]
        for item in items:
            if isinstance(item, ServiceOut):
                lines += _service(item, h, said)
            elif isinstance(item, DatabaseOut):
                lines += _database(item, h)
            else:
                lines += _redis(item, h)
    if f.nginx_notes:
        lines += [""] + [f"# {n}" for n in f.nginx_notes]
    lines += [
        "",
        "alerting:",
        "  receivers:  # TODO: where alerts go (webhooks, pagerduty, telegram, email: docs/site.md, Receiver)",
        "    page:",
        "      webhooks: [{url_file: /etc/lookout/secrets/page_webhook_url}]",
        "    ticket:",
        "      webhooks: [{url_file: /etc/lookout/secrets/ticket_webhook_url}]",
    ]
    return "\n".join(lines) + "\n"


def table(f: Findings) -> str:
    rows = [("WHAT", "NAME", "FOUND", "NOT DECIDED")]
    for r in f.rows:
        rows.append((r.what, r.name, r.found or "-", r.undecided[0] if r.undecided else "-"))
        rows += [("", "", "", u) for u in r.undecided[1:]]
    # a long FOUND cell wraps onto continuation lines, so the NOT DECIDED column stays on screen
    wrapped: list[tuple[str, str, str, str]] = []
    for what, name, found, undecided in rows:
        parts = textwrap.wrap(found, FOUND_WIDTH, break_long_words=False, break_on_hyphens=False) or [""]
        wrapped.append((what, name, parts[0], undecided))
        wrapped += [("", "", part, "") for part in parts[1:]]
    widths = [max(len(row[i]) for row in wrapped) for i in range(3)]
    out = ["  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]), row[3]]).rstrip()
           for row in wrapped]
    return "\n".join(out) + "\n"


def as_json(f: Findings, site_file: str | None) -> str:
    """The findings; without a file written, the site file's text too (``site``)."""
    data = {"host": f.host, "site_file": site_file, "site": None if site_file else site_text(f),
            "found": [asdict(r) for r in f.rows],
            "services": [asdict(s) for s in f.services],
            "databases": [asdict(d) for d in f.databases],
            "redis": [{k: v for k, v in asdict(r).items() if k != "where"} for r in f.redis]}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"

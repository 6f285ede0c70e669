"""Rewrites the repository's Prometheus and Alertmanager configuration for a native run.

Reads: ``prometheus/prometheus.yml`` (scrape jobs, rule files, Alertmanagers, written for the compose
service names) and ``alertmanager/alertmanager.yml`` (routes, receivers, templates).
Writes: the same documents with only addresses changed: every ``<compose-host>:<port>`` becomes the
``127.0.0.1:<port>`` where that component listens here, relative file paths become absolute, the
receivers' endpoints point at the stand-in pager (``stack.receiver``) and their secret files at
placeholders. Optionally (tests) the intervals are shortened: scrape and evaluation intervals,
Alertmanager's group/repeat timers. Rule files (and their ``for:``) are used as they are.
"""

from __future__ import annotations

import copy
import glob
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

# compose service name -> its ports, as written in the committed configuration (the contract)
SERVICE_PORTS: dict[str, tuple[int, ...]] = {
    "prometheus": (9090,),
    "alertmanager-1": (9093,),
    "alertmanager-2": (9093,),
    "grafana": (3000,),
    "exporters": (9808,),
    "node-exporter": (9100,),
    "postgres-exporter": (9187,),
    "redis-exporter": (9121,),
    "blackbox-exporter": (9115,),
    "nginx-log-exporter": (4040,),
    "demo-voice": (5002, 5556),
    "demo-chat": (8001,),
    "demo-nginx": (8080,),
}

_ADDR_RE = re.compile(r"(?<![\w.-])(" + "|".join(sorted(map(re.escape, SERVICE_PORTS), key=len, reverse=True))
                      + r"):(\d+)(?!\d)")


def standard_addresses(alertmanager_2: str | None = None) -> dict[str, str]:
    """Every service on this host at its usual port (a bare VPS under systemd)."""
    out = {f"{host}:{port}": f"127.0.0.1:{port}" for host, ports in SERVICE_PORTS.items() for port in ports}
    out["alertmanager-2:9093"] = alertmanager_2 or "127.0.0.1:9095"
    return out


def rewrite_addresses(obj: Any, addresses: dict[str, str]) -> Any:
    """Replace every ``host:port`` of a compose service inside the strings of a YAML tree."""
    def sub(m: re.Match[str]) -> str:
        return addresses.get(m.group(0), m.group(0))

    if isinstance(obj, str):
        return _ADDR_RE.sub(sub, obj)
    if isinstance(obj, list):
        return [rewrite_addresses(v, addresses) for v in obj]
    if isinstance(obj, dict):
        return {k: rewrite_addresses(v, addresses) for k, v in obj.items()}
    return obj


def unmapped_addresses(obj: Any, addresses: dict[str, str]) -> set[str]:
    """Compose addresses in the tree that have no native counterpart (reported, left unchanged)."""
    found: set[str] = set()

    def walk(o: Any) -> None:
        if isinstance(o, str):
            found.update(m.group(0) for m in _ADDR_RE.finditer(o) if m.group(0) not in addresses)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)

    walk(obj)
    return found


def _absolute(pattern: str, base: Path) -> str:
    p = Path(pattern)
    return str(p if p.is_absolute() else (base / p))


def render_prometheus(src: Path, addresses: dict[str, str], *, scrape_interval: str | None = None,
                      evaluation_interval: str | None = None,
                      extra_targets: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """``extra_targets``: job name -> static configs added to that job (targets only the native stack has,
    such as the demo chat API's HTTPS port for the TLS probe)."""
    conf = yaml.safe_load(src.read_text())
    conf = rewrite_addresses(conf, addresses)
    for job in conf.get("scrape_configs", []):
        job.setdefault("static_configs", []).extend((extra_targets or {}).get(job.get("job_name"), []))
    conf["rule_files"] = [_absolute(r, src.parent) for r in conf.get("rule_files", [])]
    g = conf.setdefault("global", {})
    if scrape_interval:
        g["scrape_interval"] = scrape_interval
        g["scrape_timeout"] = scrape_interval
    if evaluation_interval:
        g["evaluation_interval"] = evaluation_interval
    for job in conf.get("scrape_configs", []):
        if scrape_interval:
            job["scrape_interval"] = scrape_interval
            job["scrape_timeout"] = scrape_interval
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [_absolute(f, src.parent) for f in sd.get("files", [])]
    return conf


def rule_files(conf: dict[str, Any]) -> list[Path]:
    return sorted({Path(f) for pattern in conf.get("rule_files", []) for f in glob.glob(pattern)})


# Alertmanager: where each kind of receiver sends, and the secret-file keys it may use.
_ENDPOINT_KEYS = {"webhook_configs": "url", "telegram_configs": "api_url", "pagerduty_configs": "url",
                  "slack_configs": "api_url", "opsgenie_configs": "api_url", "discord_configs": "webhook_url",
                  "msteams_configs": "webhook_url", "pushover_configs": "url", "victorops_configs": "api_url",
                  "wechat_configs": "api_url", "sns_configs": "api_url", "webex_configs": "api_url"}
_TIMER_KEYS = ("group_wait", "group_interval", "repeat_interval")


def render_alertmanager(src: Path, addresses: dict[str, str], *, pager_url: str | None, secrets_dir: Path,
                        timers: dict[str, str] | None = None) -> dict[str, Any]:
    """``pager_url``: base URL of the stand-in pager; each receiver posts to ``<pager_url>/<receiver>/<kind>``."""
    conf = rewrite_addresses(yaml.safe_load(src.read_text()), addresses)
    conf["templates"] = [_absolute(t, src.parent) for t in conf.get("templates", [])]
    secrets_dir.mkdir(parents=True, exist_ok=True)

    def placeholder(key: str) -> str:
        f = secrets_dir / key
        # a URL-shaped value works for url_file keys, and is an opaque token for the others
        f.write_text(f"{pager_url or 'http://127.0.0.1:9'}/unused/{key}\n" if "url" in key else "placeholder\n")
        return str(f)

    def fix_secret_files(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: (placeholder(k) if k.endswith("_file") and isinstance(v, str) else fix_secret_files(v))
                    for k, v in o.items()}
        if isinstance(o, list):
            return [fix_secret_files(v) for v in o]
        return o

    conf = fix_secret_files(conf)
    if pager_url:
        g = conf.setdefault("global", {})
        for key in ("telegram_api_url", "pagerduty_url", "slack_api_url", "opsgenie_api_url", "victorops_api_url",
                    "wechat_api_url", "webex_api_url"):
            if key in g:
                g[key] = f"{pager_url}/_global/{key}"
        g.pop("slack_api_url_file", None)
        for rcv in conf.get("receivers", []):
            name = rcv["name"]
            for kind, key in _ENDPOINT_KEYS.items():
                for cfg in rcv.get(kind, []) or []:
                    cfg.pop(f"{key}_file", None)
                    cfg[key] = f"{pager_url}/{name}/{kind.removesuffix('_configs')}"
                    if kind == "webhook_configs":
                        cfg.pop("url_file", None)
    if timers:
        _walk_routes(conf.get("route", {}), lambda r: r.update({k: v for k, v in timers.items() if k in r}))
        conf.setdefault("route", {}).update(timers)
    return conf


def _walk_routes(route: dict[str, Any], fn: Callable[[dict[str, Any]], None]) -> None:
    fn(route)
    for child in route.get("routes", []) or []:
        _walk_routes(child, fn)


def receivers_by_route(conf: dict[str, Any]) -> list[str]:
    return [r["name"] for r in conf.get("receivers", [])]


def dump(conf: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(copy.deepcopy(conf), sort_keys=False))
    return path

"""What the catalog's components ask of a site: which signals exist there, and its thresholds.

Reads: a ``Site``. Publishes ``Ctx`` (the site, its merged thresholds and its ``features``) and
``FEATURES``: a rule, panel or scrape job exists only when the feature it reads is in the site (a site
with only a chat center has no ``nginx`` feature, so no voice rules and no voice panels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lookout.monitoring.catalog.thresholds import Thresholds, thresholds
from lookout.monitoring.site import Service, Site

FEATURES = {
    "nginx": "a service behind Nginx whose access log is read (`nginx_log: true`)",
    "mcp": "a service named `mcp-server` with a health URL (the voice platform's MCP tool server)",
    "probes": "a service with a `health_url`",
    "tls": "a service with a `tls_host`",
    "postgres": "a database",
    "redis": "a Redis",
    "pools": "a Gunicorn, Uvicorn or Celery worker pool",
    "celery": "a Redis with `celery:` (the Celery broker)",
    "beat": "a beat schedule",
    "credits": "the `credits` check",
    "elevenlabs": "the ElevenLabs provider",
    "elevenlabs_conversations": "the ElevenLabs provider compared with a database",
    "deepseek": "the DeepSeek provider",
    "llm_spend": "the `llm_spend` check",
    "marketplace_sync": "the `marketplace_sync` check",
    "sla": "the `sla` check",
    "capacity": "the `capacity` check",
    "pg_activity": "the `pg_activity` check",
    "backups": "the `backups` check",
    "tokens": "`tokens:`",
    "app_metrics": "a service with `metrics:`",
    "slo_availability": "an availability SLO",
    "slo_latency": "a latency SLO",
    "containers": "`monitoring.watch_containers: true`",
    "app_exceptions": "a service with an `error_log`",
    "releases": "a service with a `release`",
    "long_term_store": "`long_term_store:` (months of history, rules evaluated by vmalert)",
}


def features(site: Site) -> frozenset[str]:
    s = site.services
    slos = [x.metrics.slo for x in s if x.metrics and x.metrics.slo]
    el = site.providers.elevenlabs
    on = {
        "nginx": any(x.nginx_log for x in s),
        "mcp": any(x.name == "mcp-server" and x.health_url for x in s),
        "probes": any(x.health_url for x in s),
        "tls": any(x.tls_host for x in s),
        "postgres": bool(site.databases),
        "redis": bool(site.redis),
        "pools": bool(site.pools),
        "celery": site.broker is not None,
        "beat": bool(site.periodic_tasks),
        "elevenlabs": el is not None,
        "elevenlabs_conversations": el is not None and el.database is not None,
        "deepseek": site.providers.deepseek is not None,
        "tokens": bool(site.tokens),
        "app_metrics": any(x.metrics for x in s),
        "slo_availability": any(x.availability for x in slos),
        "slo_latency": any(x.latency for x in slos),
        "containers": site.monitoring.watch_containers,
        "app_exceptions": any(x.error_log for x in s),
        "releases": any(x.release for x in s),
        "long_term_store": site.long_term_store is not None,
    }
    for check in ("credits", "llm_spend", "marketplace_sync", "sla", "capacity", "pg_activity", "backups"):
        on[check] = site.has_check(check)
    assert set(on) == set(FEATURES)
    return frozenset(k for k, v in on.items() if v)


def camel(name: str) -> str:
    """``chat-api`` -> ``ChatApi`` (alert names derived from the site's names)."""
    return "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", name) if p)


@dataclass(frozen=True)
class Ctx:
    site: Site
    t: Thresholds = field(repr=False)
    features: frozenset[str]

    @classmethod
    def of(cls, site: Site) -> Ctx:
        return cls(site, thresholds(site), features(site))

    def has(self, *names: str) -> bool:
        """Every feature named is in the site; ``a|b`` is either."""
        alternatives = [n.split("|") for n in names]
        unknown = {a for alts in alternatives for a in alts} - set(FEATURES)
        if unknown:
            raise KeyError(f"unknown features {sorted(unknown)}")
        return all(any(a in self.features for a in alts) for alts in alternatives)

    def any(self, *names: str) -> bool:
        return any(self.has(n) for n in names)

    def first(self, *kinds: str, nginx: bool = False) -> Service | None:
        """The first service of one of ``kinds`` (behind Nginx when ``nginx``): the one runbooks name."""
        return next((s for s in self.site.services_of_kind(*kinds) if s.nginx_log or not nginx), None)

    def unit(self, *kinds: str, default: str = "<unit>", nginx: bool = False) -> str:
        s = self.first(*kinds, nginx=nginx)
        return s.unit if s is not None and s.unit else default

    def units(self, *kinds: str) -> str:
        """Every unit of these kinds, for runbook text: ``api.service`` or ``a.service, b.service``."""
        names = [s.unit for s in self.site.services_of_kind(*kinds) if s.unit]
        return ", ".join(f"`{u}`" for u in dict.fromkeys(names)) or "`<unit>`"

    def server_unit(self, what: str) -> str:
        """systemd unit of the PostgreSQL (``databases``) or Redis (``redis``) server in the site."""
        found = [x.unit for x in getattr(self.site, what) if x.unit]
        return found[0] if found else {"databases": "postgresql", "redis": "redis-server"}[what]

    @property
    def host_size(self) -> tuple[int, int, int]:
        """vCPUs, memory GB and disk GB of the smallest host (the one that fills first)."""
        h = min(self.site.hosts, key=lambda h: (h.memory_bytes, h.vcpus))
        return h.vcpus, h.memory_bytes // 1024**3, h.disk_bytes // 10**9

"""The site file: what one operator runs, in one YAML file (docs/site.md, monitoring/site.schema.json).

Reads: a site file such as ``examples/demo.yaml``. Secrets are never read: DSNs, broker URLs and API keys
stay ``${VAR}`` references or ``*_file`` paths, expanded by the exporter where they are used.
Publishes: ``Site`` (frozen dataclasses) and ``load_site(path) -> Site``; every bad input raises
``SiteError`` with one line naming the key path. The catalog asks the site what exists (hosts, services
by kind, platforms, databases with their checks, providers, receivers) and merges the site's
``thresholds`` over its product defaults.

``python -m lookout.monitoring.site write`` writes the JSON Schema and the key tables of docs/site.md.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lookout.exporters.config import ConfigError, Duration, Secret, build_dataclass
from lookout.monitoring.sitebind import FileRef, SecretRef, SiteError, bind, json_schema, key, key_docs, load_yaml

__all__ = ["Site", "SiteError", "load_site"]

Kind = Literal["gunicorn", "uvicorn", "celery_worker", "celery_beat", "http"]
POOL_KINDS: dict[str, str] = {"gunicorn": "gunicorn", "uvicorn": "uvicorn", "celery_worker": "celery"}
CHECKS = ("credits", "marketplace_sync", "sla", "capacity", "llm_spend", "pg_activity", "backups")
# collectors the site's own keys configure (never through `collectors:`)
MODELLED = (*CHECKS, "worker_pools", "celery", "tokens", "containers", "deepseek", "elevenlabs", "app_exceptions",
            "releases")
# where Prometheus finds the exporters of a host, when the site does not say: the packages' usual ports
EXPORTER_PORTS = {"lookout": 9808, "node": 9100, "postgres": 9187, "redis": 9121, "nginx_log": 4040}
_SIZE = re.compile(r"^\d+(\.\d+)?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
_SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_ADDRESS = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


def size_bytes(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"expected a size such as 4GiB or 20GB, got {text!r}")
    return int(float(text[: -len(m.group(2))]) * _SIZE_UNITS[m.group(2)])


def _check_size(path: str, text: str | None) -> None:
    if text is not None and not _SIZE.match(text):
        raise ValueError(f"{path}: expected a size such as 4GiB or 20GB, got {text!r}")


def _check_address(path: str, text: str | None) -> None:
    if text is not None and not _ADDRESS.match(text):
        raise ValueError(f"{path}: expected HOST:PORT, got {text!r}")


def _check_name(path: str, text: str) -> None:
    if not _NAME.match(text):
        raise ValueError(f"{path}: expected lower-case letters, digits, '-', '_' or '.', got {text!r}")


# --- hosts ----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class HostExporters:
    """Where Prometheus reaches the exporters running on a host (HOST:PORT). Unset: the exporter's usual port
    on the host's address (on 127.0.0.1 for the monitoring host itself, where exporters bind loopback), for the
    exporters the host needs: node on every host, lookout on the monitoring host and wherever a worker pool
    runs or a service has an `error_log` or a `release`,
    postgres where a database runs, redis where a Redis runs, nginx_log where a service has
    `nginx_log: true`."""

    lookout: str | None = key(None, help="lookout's exporter (`lookout-exporter`, job `lookout`), port 9808.")
    node: str | None = key(None, help="node_exporter, port 9100.")
    postgres: str | None = key(None, help="postgres_exporter, port 9187.")
    redis: str | None = key(None, help="redis_exporter, port 9121.")
    nginx_log: str | None = key(None, help="The Nginx access-log exporter (mtail), port 4040.")

    def validate(self) -> None:
        for name in EXPORTER_PORTS:
            _check_address(name, getattr(self, name))


@dataclass(frozen=True, kw_only=True)
class Host:
    """A machine (VPS) of the platform."""

    name: str = key(help="The `host` label of every series from this machine.", example="app-1")
    address: str = key(help="How the monitoring host reaches it: a DNS name or IP (127.0.0.1 on one VPS).",
                       example="app-1.example.internal")
    vcpus: int = key(2, help="vCPUs: the board's title and the load-per-CPU context.")
    memory: str = key("4GiB", help="Memory size (e.g. `4GiB`): pool and Redis memory thresholds derive from it.")
    disk: str = key("20GB", help="Disk size (e.g. `20GB`), shown on the host board.")
    exporters: HostExporters = key(HostExporters(), help="Exporter addresses on this host, when not the usual.")

    def validate(self) -> None:
        _check_name("name", self.name)
        _check_size("memory", self.memory)
        _check_size("disk", self.disk)
        if self.vcpus < 1:
            raise ValueError(f"vcpus: must be >= 1, got {self.vcpus}")

    @property
    def memory_bytes(self) -> int:
        return size_bytes(self.memory)

    @property
    def disk_bytes(self) -> int:
        return size_bytes(self.disk)


# --- services -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Objective:
    """An availability objective over a window."""

    objective: float = key(help="Share of good requests, e.g. 0.995.")
    window: Duration = key(Duration(30 * 86400), help="SLO window (error budget period).")

    def validate(self) -> None:
        if not 0 < self.objective < 1:
            raise ValueError(f"objective: expected a share between 0 and 1, got {self.objective:g}")


@dataclass(frozen=True, kw_only=True)
class LatencyObjective:
    """A latency objective: the share of requests served within `threshold`."""

    objective: float = key(help="Share of requests faster than `threshold`, e.g. 0.99.")
    threshold: Duration = key(help="A request slower than this is a bad event (a histogram bucket bound).")
    window: Duration = key(Duration(30 * 86400), help="SLO window (error budget period).")

    def validate(self) -> None:
        if not 0 < self.objective < 1:
            raise ValueError(f"objective: expected a share between 0 and 1, got {self.objective:g}")


@dataclass(frozen=True, kw_only=True)
class HttpSlo:
    """HTTP service-level objectives measured on the app's own metrics (`http_requests_total`,
    `http_request_duration_seconds`)."""

    availability: Objective | None = key(None, help="Requests answered without a 5xx.")
    latency: LatencyObjective | None = key(None, help="Requests served within a time.")
    exclude_paths: tuple[str, ...] = key(("/api/health", "/api/metrics"),
                                         help="Paths left out of the SLO (health checks, the metrics endpoint).")


@dataclass(frozen=True, kw_only=True)
class AppMetrics:
    """The app's own Prometheus endpoint."""

    path: str = key("/metrics", help="Metrics path, e.g. `/api/metrics`.")
    port: int | None = key(None, help="Port. Default: the service's port.")
    slo: HttpSlo | None = key(None, help="HTTP SLOs computed from these metrics.")


@dataclass(frozen=True, kw_only=True)
class Release:
    """Where the running release of a service is read (one of the three): a deploy is when it changes."""

    git_dir: str | None = key(None, help="The service's source checkout (`git pull` deploys): HEAD's commit, and "
                                         "when HEAD last moved.", example="/srv/voice-api")
    file: str | None = key(None, help="A release file written by the deploy (rsync, CI): its first line is the "
                                      "revision, its modification time the deploy time.",
                           example="/srv/voice-api/REVISION")
    process: bool = key(False, help="The master process's start time is the deploy time (a deploy is a restart); "
                                    "the master is found by the service's `match`.")

    def validate(self) -> None:
        given = [k for k in ("git_dir", "file", "process") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of git_dir, file, process: true, got {', '.join(given) or 'none'}")
        for k in ("git_dir", "file"):
            v = getattr(self, k)
            if v and not v.startswith("/"):
                raise ValueError(f"{k}: expected an absolute path, got {v!r}")


@dataclass(frozen=True, kw_only=True)
class Service:
    """A process (or process group) of the platform on one host."""

    name: str = key(help="The `service` label, e.g. `voice-api`.")
    host: str = key(help="Name of the host it runs on.")
    kind: Kind = key(help="What runs it: a Gunicorn or Uvicorn pool, a Celery worker or beat, or any HTTP "
                          "server (probed only).")
    platform: str = key(help="The `platform` label grouping the services of one product, e.g. `voice`.")
    match: str | None = key(None, help="Text of the master's command line that identifies it (needed when "
                                       "several masters of one kind run on the host).")
    port: int | None = key(None, help="Listening TCP port (listen-queue metrics; the metrics endpoint's "
                                      "default port).")
    address: str | None = key(None, help="Name under which the monitoring host reaches it, when not the "
                                         "host's address (e.g. a compose service name).")
    workers: int | None = key(None, help="Workers the pool should run (Gunicorn `-w`, Uvicorn `--workers`, "
                                         "Celery `--concurrency`).")
    health_url: str | None = key(None, help="URL probed over HTTP (blackbox `http_2xx`) for a 2xx answer.")
    tls_host: str | None = key(None, help="Public HTTPS endpoint `HOST:PORT` whose certificate is checked.")
    metrics: AppMetrics | None = key(None, help="The app's own metrics endpoint, when it has one.")
    nginx_log: bool = key(False, help="Nginx in front of it writes the access log read by the nginx_log "
                                      "exporter on this host (502 and 5xx rates).")
    unit: str | None = key(None, help="systemd unit, used in runbooks (`systemctl restart UNIT`).")
    error_log: str | None = key(None, help="The service's error log on its host (Gunicorn `--error-logfile`, a "
                                           "Uvicorn or Celery log file): Python tracebacks in it are counted "
                                           "per exception class.", example="/var/log/voice-api/error.log")
    release: Release | None = key(None, help="Where its running release is read: deploys become annotations on "
                                             "every board and are named in alert notifications.")

    def validate(self) -> None:
        _check_name("name", self.name)
        _check_name("platform", self.platform)
        if self.error_log is not None and not self.error_log.startswith("/"):
            raise ValueError(f"error_log: expected an absolute path, got {self.error_log!r}")
        if self.release is not None and self.release.process and not self.match:
            raise ValueError("release.process: needs `match` (text of the master's command line)")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port: expected 1-65535, got {self.port}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers: must be >= 0, got {self.workers}")
        if self.tls_host is not None:
            _check_address("tls_host", self.tls_host)
        if self.health_url is not None and not self.health_url.startswith(("http://", "https://")):
            raise ValueError(f"health_url: expected an http:// or https:// URL, got {self.health_url!r}")
        if self.metrics is not None and self.metrics.port is None and self.port is None:
            raise ValueError("metrics.port: required when the service has no port")
        if self.kind == "celery_beat" and self.workers is not None:
            raise ValueError("workers: a celery_beat service runs no worker pool")

    @property
    def pool_server(self) -> str | None:
        """The worker_pools collector's `server` for this kind, or None when it runs no pool."""
        return POOL_KINDS.get(self.kind)

    @property
    def metrics_port(self) -> int | None:
        return None if self.metrics is None else (self.metrics.port or self.port)


# --- data sources ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Checks:
    """Business checks on one database. Each enabled check is a mapping of the exporter collector's
    settings (docs/configuration.md: interval, queries overrides, windows...; `dsn` comes from the
    database); `{}` enables it with its defaults. Each check may be enabled on one database only."""

    credits: Mapping[str, Any] | None = key(None, help="Voice credits charged per conversation (`credits`).")
    marketplace_sync: Mapping[str, Any] | None = key(None, help="Marketplace sync lag and errors.")
    sla: Mapping[str, Any] | None = key(None, help="Open interactions past or near their SLA deadline.")
    capacity: Mapping[str, Any] | None = key(
        None, help="Volumes against the scaling thresholds; `thresholds:` merges over the defaults "
        "(active_sellers 100, chats_per_day 10000, concurrent_users 1000): a partial map keeps the rest.")
    llm_spend: Mapping[str, Any] | None = key(None, help="LLM spend from the app's usage table.")
    pg_activity: Mapping[str, Any] | None = key(
        None, help="Sessions and locks of this database's server: blocked sessions, idle-in-transaction sessions, "
        "the oldest transaction and query per database (`pg_activity`; its role needs `pg_monitor` to see other "
        "roles' sessions). `lookout-exporter report blocking` prints who blocks whom.")
    backups: Mapping[str, Any] | None = key(
        None, help="This database's backups: `dir` (on the monitoring host), `glob` and `expected_interval` (how "
        "often the backup job runs: the yardstick of the missed-backup alerts), plus WAL archiving from "
        "`pg_stat_archiver` when the server archives (`backups`).")

    def enabled(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for name in CHECKS:
            settings = getattr(self, name)
            if settings is not None:
                yield name, settings


@dataclass(frozen=True, kw_only=True)
class Database:
    """A PostgreSQL database of the platform, read with a read-only role."""

    name: str = key(help="Name of the database entry (referred to by providers), e.g. `voice`.")
    host: str = key(help="Name of the host it runs on (where postgres_exporter is scraped).")
    platform: str = key(help="The platform it belongs to.")
    dsn: SecretRef = key(help="libpq URL of a read-only role: `${VAR}`, or `dsn_file: PATH`; a password is "
                              "never literal.", secret=True)
    version: str | None = key(None, help="PostgreSQL major version, for the runbooks (e.g. `16`).")
    unit: str | None = key(None, help="systemd unit of the server, for the runbooks (e.g. `postgresql`).")
    checks: Checks = key(Checks(), help="Business checks run against this database.")

    def validate(self) -> None:
        _check_name("name", self.name)


@dataclass(frozen=True, kw_only=True)
class Celery:
    """Celery on this broker: the queues watched and the beat schedule."""

    queues: tuple[str, ...] = key(("celery",), help="Queues whose depth and wait are watched.")
    beat_schedule: Mapping[str, Duration] = key({}, help="Periodic task name -> interval; a task that does "
                                                         "not succeed for 3 intervals tickets.")
    settings: Mapping[str, Any] = key({}, help="Other settings of the exporter's celery collector "
                                               "(docs/configuration.md).")


@dataclass(frozen=True, kw_only=True)
class Redis:
    """A Redis of the platform (cache, rate limits, Celery broker)."""

    name: str = key(help="Name of the entry, e.g. `redis`.")
    host: str = key(help="Name of the host it runs on (where redis_exporter is scraped).")
    platform: str = key("shared", help="The platform it belongs to (`shared` when several use it).")
    url: SecretRef = key(help="`redis://HOST:PORT/DB`; a password only as `${VAR}`, or `url_file: PATH`.",
                         secret=True)
    celery: Celery | None = key(None, help="Set when it is a Celery broker.")
    unit: str | None = key(None, help="systemd unit of the server, for the runbooks.")

    def validate(self) -> None:
        _check_name("name", self.name)


# --- providers and tokens -------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Provider:
    """An external AI provider the platform pays for."""

    api_key: SecretRef | None = key(None, help="API key: `${VAR}`, or `api_key_file: PATH`.", secret=True)
    base_url: str | None = key(None, help="API root. Default: the provider's public API.")
    monthly_budget_usd: float | None = key(None, help="Expected spend per month; the daily budget alert "
                                                      "derives from it.")
    platform: str | None = key(None, help="The platform that uses it.")
    database: str | None = key(None, help="ElevenLabs: the database whose conversations are compared with "
                                          "the provider's.")
    settings: Mapping[str, Any] = key({}, help="Other settings of the exporter's collector for this provider "
                                               "(docs/configuration.md).")


@dataclass(frozen=True, kw_only=True)
class Providers:
    """The AI providers. DeepSeek and ElevenLabs have balance/usage collectors; Gemini has no balance API
    (its spend comes from the app's usage table through `llm_spend`)."""

    deepseek: Provider | None = key(None, help="DeepSeek (balance, runway).")
    elevenlabs: Provider | None = key(None, help="ElevenLabs Conversational AI (quota, conversations).")
    gemini: Provider | None = key(None, help="Google Gemini (budget only).")

    def items(self) -> Iterator[tuple[str, Provider]]:
        for name in ("deepseek", "elevenlabs", "gemini"):
            p = getattr(self, name)
            if p is not None:
                yield name, p


@dataclass(frozen=True, kw_only=True)
class Token:
    """A JWT or API token whose expiry is watched (e.g. a marketplace connector token)."""

    name: str = key(help="The `name` label, e.g. `wb_feedbacks`.")
    file: FileRef = key(help="File holding the token, read at every refresh (never printed).")
    platform: str | None = key(None, help="The platform that uses it.")


# --- alerting -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Webhook:
    """An HTTP endpoint receiving Alertmanager's webhook payload."""

    url: SecretRef | None = key(None, help="URL (a password in it only as `${VAR}`), or `url_file: PATH` (needs "
                                           "Alertmanager 0.26 or later; Debian 12 ships 0.25).", secret=True)


@dataclass(frozen=True, kw_only=True)
class PagerDuty:
    """PagerDuty Events API v2."""

    routing_key_file: FileRef = key(help="File holding the integration's routing key.", secret=True)
    url: str | None = key(None, help="Events API endpoint. Default: PagerDuty's (set for a proxy or a test pager).")


@dataclass(frozen=True, kw_only=True)
class Telegram:
    """A Telegram bot posting to one chat."""

    bot_token_file: FileRef = key(help="File holding the bot token.", secret=True)
    chat_id: int = key(help="Chat (group) id, e.g. -1001234567890.")
    api_url: str | None = key(None, help="Bot API root. Default: Telegram's (set for a proxy or a test pager).")


@dataclass(frozen=True, kw_only=True)
class Email:
    """E-mail through an SMTP relay."""

    to: str = key(help="Recipient address.")
    from_address: str = key(help="Sender address.")
    smarthost: str = key(help="SMTP relay `HOST:PORT`.")
    auth_username: str | None = key(None, help="SMTP user.")
    auth_password_file: FileRef | None = key(None, help="File holding the SMTP password.", secret=True)

    def validate(self) -> None:
        _check_address("smarthost", self.smarthost)


@dataclass(frozen=True, kw_only=True)
class Receiver:
    """Where one class of notifications goes; any combination of integrations."""

    webhooks: tuple[Webhook, ...] = key((), help="Webhook endpoints.")
    pagerduty: PagerDuty | None = key(None, help="PagerDuty integration.")
    telegram: Telegram | None = key(None, help="Telegram chat.")
    email: Email | None = key(None, help="E-mail.")

    @property
    def empty(self) -> bool:
        return not (self.webhooks or self.pagerduty or self.telegram or self.email)


@dataclass(frozen=True, kw_only=True)
class Receivers:
    """`page`: critical alerts (wake someone up); `ticket`: warnings (next working hours); `heartbeat`: the
    always-firing Watchdog, for a dead man's switch."""

    page: Receiver = key(help="Critical alerts.")
    ticket: Receiver = key(help="Warnings.")
    heartbeat: Receiver | None = key(None, help="Watchdog, every minute. Unset: not sent anywhere.")

    def validate(self) -> None:
        for name in ("page", "ticket"):
            if getattr(self, name).empty:
                raise ValueError(f"{name}: a receiver needs at least one of webhooks, pagerduty, telegram, email")


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, kw_only=True)
class QuietHours:
    """When tickets wait (pages always go out): Alertmanager's mute time interval for the ticket route."""

    start: str = key(help="Start, `HH:MM` in the alerting time zone.")
    end: str = key(help="End, `HH:MM` (may be earlier than start: the quiet hours cross midnight).")
    weekdays: tuple[str, ...] = key((), help="Days it applies (`monday`...). Empty: every day.")

    def validate(self) -> None:
        for name in ("start", "end"):
            if not _CLOCK.match(getattr(self, name)):
                raise ValueError(f"{name}: expected HH:MM, got {getattr(self, name)!r}")
        for i, d in enumerate(self.weekdays):
            if d not in _WEEKDAYS:
                raise ValueError(f"weekdays[{i}]: expected one of {', '.join(_WEEKDAYS)}, got {d!r}")


@dataclass(frozen=True, kw_only=True)
class Alerting:
    """Receivers and the links every alert carries."""

    receivers: Receivers = key(help="Where pages, tickets and the heartbeat go.")
    grafana_url: str = key("http://localhost:3000", help="Grafana base URL used in every alert's dashboard link.")
    runbook_url: str | None = key(None, help="Runbook page; each alert links `<runbook_url>#<alert>`. Unset: the "
                                             "generated `runbooks/index.html` as Grafana serves it "
                                             "(`<grafana_url>/public/runbooks/index.html`, docs/install.md).")
    prometheus_url: str | None = key(None, help="Prometheus as people open it (`--web.external-url`: every "
                                                "alert's source link). Unset: `http://<monitoring.prometheus>`.")
    alertmanager_url: str | None = key(None, help="Alertmanager as people open it (`--web.external-url`: the "
                                                  "silence links). Unset: `http://<monitoring.alertmanagers[0]>`.")
    timezone: str = key("UTC", help="Time zone of the quiet hours and of the times in notifications (IANA name, "
                                    "e.g. `Europe/Rome`).")
    quiet_hours: tuple[QuietHours, ...] = key((), help="When tickets are held back.")
    deploy_window: Duration = key(Duration(1800), help="An alert starting this soon after a deploy (a service's "
                                                       "`release` changed) names it: \"Started 3m 0s after deploy "
                                                       "abc1234 of voice-api.\"")

    def validate(self) -> None:
        for name in ("grafana_url", "runbook_url", "prometheus_url", "alertmanager_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ValueError(f"{name}: expected an http:// or https:// URL")

    @property
    def runbooks(self) -> str:
        """The runbook page every alert links to (with `#<alert>`)."""
        return self.runbook_url or f"{self.grafana_url.rstrip('/')}/public/runbooks/index.html"


# --- the monitoring side --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Retention:
    """How long Prometheus keeps data, and its disk budget (whichever is reached first applies)."""

    time: str = key("15d", help="Retention time (Prometheus duration, e.g. `15d`).")
    size: str = key("2GB", help="Disk budget of the TSDB (e.g. `2GB`).")

    def validate(self) -> None:
        if not re.match(r"^\d+(ms|s|m|h|d|w|y)$", self.time):
            raise ValueError(f"time: expected a Prometheus duration such as 15d, got {self.time!r}")
        if not re.match(r"^\d+(B|KB|MB|GB|TB|PB|EB)$", self.size):
            raise ValueError(f"size: expected a Prometheus size such as 2GB, got {self.size!r}")


@dataclass(frozen=True, kw_only=True)
class GoGC:
    """The Go garbage collector's target (`GOGC`: how far the heap grows over what the last collection kept,
    in percent; Go's default is 100) of lookout's Go processes, set in their environment. Lower keeps less
    freed memory around for a little more collection work; it scales with the live heap, so unlike a fixed
    `GOMEMLIMIT` it stays sound as series grow (docs/scaling.md, "What it costs")."""

    prometheus: int = key(50, help="GOGC of Prometheus (every replica).")
    alertmanager: int = key(50, help="GOGC of the Alertmanagers.")

    def validate(self) -> None:
        for name in ("prometheus", "alertmanager"):
            # no `off`: the heap would grow until MemoryMax / the container limit kills the process
            if not 10 <= getattr(self, name) <= 1000:
                raise ValueError(f"{name}: expected a percentage from 10 to 1000, got {getattr(self, name)!r}")


@dataclass(frozen=True, kw_only=True)
class RemoteWrite:
    """A remote_write endpoint (long-term storage, a central Prometheus)."""

    url: str = key(help="Endpoint URL.")
    name: str | None = key(None, help="Name shown in Prometheus' metrics.")
    bearer_token_file: FileRef | None = key(None, help="File holding a bearer token.", secret=True)
    username: str | None = key(None, help="Basic-auth user.")
    password_file: FileRef | None = key(None, help="File holding the basic-auth password.", secret=True)


@dataclass(frozen=True, kw_only=True)
class LongTermStore:
    """The distributed store every Prometheus replica remote-writes to, and its ruler (docs/scaling.md)."""

    kind: Literal["victoriametrics"] = key(help="The store's engine; VictoriaMetrics single-node (Debian's "
                                                "`victoria-metrics`) is the one generated and tested here.")
    url: str = key("http://127.0.0.1:8428", help="Base URL of the store (writes go to `/api/v1/write`, queries "
                                                 "to its Prometheus API).")
    dedup_interval: Duration | None = key(None, help="The store's `-dedup.minScrapeInterval`: one sample per "
                                                     "series and interval survives, whichever replica sent it. "
                                                     "Default: the scrape interval.")
    retention: str = key("1y", help="How long the store keeps data (`-retentionPeriod`, e.g. `1y`, `400d`).")
    ruler: str = key("127.0.0.1:8880", help="vmalert, which evaluates the rules that need more history than "
                                           "the local Prometheus keeps (HOST:PORT).")
    ruler_interval: Duration = key(Duration(60), help="vmalert's evaluation interval.")

    def validate(self) -> None:
        if not re.match(r"^https?://[A-Za-z0-9_.\-\[\]:]+(/[^\s]*)?$", self.url) or len(self.url) > 512:
            raise ValueError(f"url: expected http(s)://HOST:PORT[/path], got {self.url[:80]!r}")
        if not re.match(r"^\d+(h|d|w|y)?$", self.retention):
            raise ValueError(f"retention: expected a number of months or a duration such as 1y, 400d, "
                             f"got {self.retention!r}")
        _check_address("ruler", self.ruler)
        if self.dedup_interval is not None and float(self.dedup_interval) <= 0:
            raise ValueError("dedup_interval: must be positive")

    @property
    def address(self) -> str:
        """HOST:PORT the store listens on."""
        from urllib.parse import urlsplit

        return urlsplit(self.url).netloc


@dataclass(frozen=True, kw_only=True)
class Monitoring:
    """Where lookout itself runs and how its parts reach each other. Defaults: everything on one host,
    at the Debian packages' ports (the systemd install)."""

    host: str | None = key(None, help="Host running Prometheus, Alertmanager and the central collectors "
                                      "(databases, broker, providers). Default: the first host.")
    prometheus: str = key("127.0.0.1:9090", help="Prometheus, as it scrapes itself.")
    alertmanagers: tuple[str, ...] = key(("127.0.0.1:9093",), help="Alertmanager replicas (HOST:PORT).")
    blackbox: str = key("127.0.0.1:9115", help="blackbox_exporter, which runs the HTTP and TLS probes.")
    scrape_interval: Duration = key(Duration(15), help="Prometheus scrape interval.")
    evaluation_interval: Duration = key(Duration(15), help="Prometheus rule evaluation interval.")
    watch_containers: bool = key(False, help="Compose only: watch the stack's own containers through a "
                                             "read-only Docker API proxy (add deploy/compose/containers.yaml "
                                             "to COMPOSE_FILE).")
    exporter_intervals: Mapping[str, Duration] = key(
        {}, help="Refresh interval per lookout collector (e.g. `worker_pools: 5s`); a check's own "
        "`interval` wins.")
    prometheus_peers: tuple[str, ...] = key((), help="The further Prometheus replicas of an HA pair "
                                                     "(HOST:PORT), one per replica beyond the first "
                                                     "(`prometheus_replicas`).")
    gogc: GoGC = key(GoGC(), help="GOGC of Prometheus and the Alertmanagers (their memory against a little "
                                  "CPU; docs/scaling.md).")

    def validate(self) -> None:
        _check_address("prometheus", self.prometheus)
        for i, a in enumerate(self.prometheus_peers):
            _check_address(f"prometheus_peers[{i}]", a)
        _check_address("blackbox", self.blackbox)
        for i, a in enumerate(self.alertmanagers):
            _check_address(f"alertmanagers[{i}]", a)
        if not self.alertmanagers:
            raise ValueError("alertmanagers: at least one is needed")


# --- the site -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Site:
    """What one operator runs: hosts, services, data sources, providers and where alerts go."""

    name: str = key(help="Name of the site (the `site` external label), e.g. `production`.")
    hosts: tuple[Host, ...] = key(help="The machines, at least one.")
    services: tuple[Service, ...] = key((), help="Processes watched on the hosts.")
    databases: tuple[Database, ...] = key((), help="PostgreSQL databases and the checks run on them.")
    redis: tuple[Redis, ...] = key((), help="Redis servers (cache, Celery broker).")
    providers: Providers = key(Providers(), help="AI providers: keys, budgets.")
    tokens: tuple[Token, ...] = key((), help="Tokens whose expiry is watched.")
    alerting: Alerting = key(help="Receivers, links, quiet hours.")
    retention: Retention = key(Retention(), help="Prometheus retention and disk budget.")
    remote_write: tuple[RemoteWrite, ...] = key((), help="Optional remote_write endpoints.")
    monitoring: Monitoring = key(Monitoring(), help="Where lookout's own parts run.")
    prometheus_replicas: int = key(1, help="Prometheus replicas scraping the same targets (2: an HA pair, each "
                                           "with its `replica` external label, alerts deduplicated by the "
                                           "Alertmanagers); the others' addresses are `monitoring.prometheus_peers`.")
    long_term_store: LongTermStore | None = key(None, help="Optional store every replica remote-writes to, with "
                                                           "vmalert for the rules needing more history.")
    thresholds: Mapping[str, float] = key({}, help="Overrides of the catalog's product thresholds by key "
                                                   "(docs/runbooks.md lists them); unnamed ones keep "
                                                   "their defaults.")
    collectors: Mapping[str, Mapping[str, Any]] = key(
        {}, help="Settings of further lookout collectors for the monitoring host's exporter, by collector name, "
        "for what the keys above do not describe (docs/configuration.md); checked by the collector itself. A "
        "collector the keys above already configure cannot be given here.")

    # -- cross-checks (each error names its key path)
    def validate(self) -> None:
        _check_name("name", self.name)
        if not self.hosts:
            raise ValueError("hosts: at least one host is needed")
        hosts = _unique("hosts", [h.name for h in self.hosts])
        _unique("services", [f"{s.host}/{s.name}" for s in self.services], "a service of this name on this host")
        dbs = _unique("databases", [d.name for d in self.databases])
        _unique("redis", [r.name for r in self.redis])
        _unique("tokens", [t.name for t in self.tokens])
        for section, items in (("services", self.services), ("databases", self.databases),
                               ("redis", self.redis)):
            for i, item in enumerate(items):
                if item.host not in hosts:
                    raise ValueError(f"{section}[{i}].host: no host named {item.host!r} "
                                     f"(hosts: {', '.join(hosts)})")
        if self.monitoring.host is not None and self.monitoring.host not in hosts:
            raise ValueError(f"monitoring.host: no host named {self.monitoring.host!r}")
        seen: dict[str, str] = {}
        for i, db in enumerate(self.databases):
            for check, settings in db.checks.enabled():
                where = f"databases[{i}].checks.{check}"
                if check in seen:
                    raise ValueError(f"{where}: already enabled on database {seen[check]!r} (one database per "
                                     "check)")
                seen[check] = db.name
                _validate_collector(check, {**settings, "dsn": "postgresql:///placeholder"}, where)
        brokers = [i for i, r in enumerate(self.redis) if r.celery is not None]
        if len(brokers) > 1:
            raise ValueError(f"redis[{brokers[1]}].celery: only one Celery broker is watched")
        for i in brokers:
            c = self.redis[i].celery
            assert c is not None
            settings = {**c.settings, "broker_url": "redis://127.0.0.1:6379/0", "queues": list(c.queues),
                        "periodic_tasks": dict(c.beat_schedule)}
            _validate_collector("celery", settings, f"redis[{i}].celery.settings")
        for name, p in self.providers.items():
            where = f"providers.{name}"
            if p.database is not None and p.database not in dbs:
                raise ValueError(f"{where}.database: no database named {p.database!r}")
            if p.database is not None and name != "elevenlabs":
                raise ValueError(f"{where}.database: only elevenlabs compares conversations with a database")
            if name in ("deepseek", "elevenlabs") and p.api_key is None:
                raise ValueError(f"{where}.api_key: required key is missing (`${{VAR}}` or api_key_file)")
            if p.monthly_budget_usd is not None and p.monthly_budget_usd <= 0:
                raise ValueError(f"{where}.monthly_budget_usd: must be positive")
            if name in ("deepseek", "elevenlabs"):
                settings = {**p.settings, "api_key": Secret("site-check-placeholder")}
                if p.base_url:
                    settings["base_url"] = p.base_url
                if name == "elevenlabs" and p.database is not None:
                    settings["conversations"] = {**(settings.get("conversations") or {}),
                                                 "dsn": "postgresql:///placeholder"}
                _validate_collector(name, settings, f"{where}.settings")
        seen_pools: dict[tuple[str, str], int] = {}
        for i, s in enumerate(self.services):
            key_ = (s.host, s.pool_server or "")
            if s.pool_server and key_ in seen_pools:
                j = seen_pools[key_]
                other = self.services[j]
                if not (s.match and other.match) or s.match == other.match:
                    raise ValueError(f"services[{i}].match: services[{j}] is also a {s.kind} pool on {s.host}: give "
                                     "each a distinct `match` (text of its master's command line)")
            seen_pools.setdefault(key_, i)
            if s.kind == "celery_beat" and not any(r.celery and r.celery.beat_schedule for r in self.redis):
                raise ValueError(f"services[{i}].kind: a celery_beat service needs a broker with a "
                                 "beat_schedule (redis[].celery.beat_schedule)")
            if s.kind in ("celery_worker", "celery_beat") and not brokers:
                raise ValueError(f"services[{i}].kind: a Celery service needs a broker (redis[].celery)")
        for k, v in self.thresholds.items():
            if v != v:  # NaN
                raise ValueError(f"thresholds.{k}: expected a number")
        for name, settings in self.collectors.items():
            where = f"collectors.{name}"
            if name not in _collector_names():
                raise ValueError(f"{where}: unknown collector (known: {', '.join(sorted(_collector_names()))})")
            if name in MODELLED:
                raise ValueError(f"{where}: configured by the site's own keys (docs/site.md), not here")
            _validate_collector(name, settings, where)
        if not 1 <= self.prometheus_replicas <= 4:
            raise ValueError("prometheus_replicas: expected 1 to 4")
        if len(self.monitoring.prometheus_peers) != self.prometheus_replicas - 1:
            raise ValueError(f"monitoring.prometheus_peers: prometheus_replicas: {self.prometheus_replicas} needs "
                             f"{self.prometheus_replicas - 1} address(es) of the further replicas, got "
                             f"{len(self.monitoring.prometheus_peers)}")
        for name in self.monitoring.exporter_intervals:
            if name not in _collector_names():
                raise ValueError(f"monitoring.exporter_intervals.{name}: unknown collector "
                                 f"(known: {', '.join(sorted(_collector_names()))})")

    # -- what the catalog asks
    @property
    def monitoring_host(self) -> Host:
        name = self.monitoring.host or self.hosts[0].name
        return self.host(name)

    @property
    def prometheus_addresses(self) -> tuple[str, ...]:
        """Every Prometheus replica, the first one first."""
        return (self.monitoring.prometheus, *self.monitoring.prometheus_peers)

    @property
    def store_dedup_interval(self) -> float:
        lts = self.long_term_store
        return float(lts.dedup_interval if lts and lts.dedup_interval else self.monitoring.scrape_interval)

    @property
    def prometheus_external_url(self) -> str:
        """Prometheus' `--web.external-url`: the address in every alert's source link."""
        return self.alerting.prometheus_url or f"http://{self.monitoring.prometheus}"

    @property
    def alertmanager_external_url(self) -> str:
        """The Alertmanagers' `--web.external-url`: the address of the silence links in notifications."""
        return self.alerting.alertmanager_url or f"http://{self.monitoring.alertmanagers[0]}"

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def services_of_kind(self, *kinds: str) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.kind in kinds)

    def services_on(self, host: str) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.host == host)

    def service(self, name: str, host: str | None = None) -> Service:
        """The service of that name (on ``host``; the first one when the name runs on several hosts)."""
        for s in self.services:
            if s.name == name and host in (None, s.host):
                return s
        raise KeyError(name)

    @property
    def service_names(self) -> tuple[str, ...]:
        """Distinct service names (a service on two app servers counts once; the `host` label tells)."""
        return tuple(dict.fromkeys(s.name for s in self.services))

    @property
    def pools(self) -> tuple[Service, ...]:
        """Services that run a worker pool (Gunicorn, Uvicorn, Celery worker)."""
        return tuple(s for s in self.services if s.pool_server is not None)

    @property
    def platforms(self) -> tuple[str, ...]:
        names = [s.platform for s in self.services] + [d.platform for d in self.databases]
        return tuple(dict.fromkeys(names))

    def has_platform(self, name: str) -> bool:
        return name in self.platforms

    def has_check(self, name: str) -> bool:
        return self.check(name) is not None

    def check(self, name: str) -> tuple[Database, Mapping[str, Any]] | None:
        """The database a business check runs on, and the check's settings."""
        for db in self.databases:
            settings = getattr(db.checks, name)
            if settings is not None:
                return db, settings
        return None

    @property
    def broker(self) -> Redis | None:
        """The Redis that is the Celery broker, if any."""
        return next((r for r in self.redis if r.celery is not None), None)

    @property
    def periodic_tasks(self) -> dict[str, float]:
        """The beat schedule, seconds per task."""
        b = self.broker
        return {k: float(v) for k, v in b.celery.beat_schedule.items()} if b and b.celery else {}

    @property
    def capacity_thresholds(self) -> dict[str, float]:
        """The scaling thresholds the capacity check publishes: the site's over the collector's defaults."""
        from lookout.exporters.collectors.capacity import merged_thresholds

        found = self.check("capacity")
        return merged_thresholds(dict(found[1].get("thresholds") or {}) if found else {})

    @property
    def threshold_overrides(self) -> Mapping[str, float]:
        return self.thresholds

    def merged_thresholds(self, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """``defaults`` (the catalog's, by key) with the site's overrides merged over them; a key the
        catalog does not know is refused, naming it. Values of ``defaults`` that have a ``value`` attribute
        (the catalog's ``Threshold``) get it replaced; plain numbers are replaced."""
        import dataclasses

        unknown = sorted(set(self.thresholds) - set(defaults))
        if unknown:
            raise SiteError(f"thresholds.{unknown[0]}: unknown threshold (known: {', '.join(sorted(defaults))})")
        out = dict(defaults)
        for k, v in self.thresholds.items():
            d = out[k]
            out[k] = dataclasses.replace(d, value=v) if dataclasses.is_dataclass(d) else v
        return out

    def monthly_budget_usd(self, provider: str) -> float | None:
        p = getattr(self.providers, provider)
        return None if p is None else p.monthly_budget_usd

    def exporter_address(self, host: Host, exporter: str) -> str:
        """HOST:PORT where Prometheus scrapes ``exporter`` on ``host``. Unset: the usual port, on 127.0.0.1
        for the monitoring host itself (exporters bind 127.0.0.1 there), on the host's address elsewhere."""
        given = getattr(host.exporters, exporter)
        if given:
            return str(given)
        addr = "127.0.0.1" if host.name == self.monitoring_host.name else host.address
        return f"{addr}:{EXPORTER_PORTS[exporter]}"

    def exporters_on(self, host: Host) -> dict[str, str]:
        """The exporters Prometheus scrapes on ``host`` (name -> HOST:PORT): node everywhere, lookout on the
        monitoring host and where a worker pool runs (or an error log or release is read),
        postgres/redis where a database/Redis runs, nginx_log
        where a service sits behind Nginx."""
        names = ["node"]
        if host.name == self.monitoring_host.name or any(s.pool_server or s.error_log or s.release
                                                         for s in self.services_on(host.name)):
            names.append("lookout")
        if any(d.host == host.name for d in self.databases):
            names.append("postgres")
        if any(r.host == host.name for r in self.redis):
            names.append("redis")
        if any(s.nginx_log for s in self.services_on(host.name)):
            names.append("nginx_log")
        return {n: self.exporter_address(host, n) for n in EXPORTER_PORTS if n in names}

    @property
    def exporter_hosts(self) -> tuple[Host, ...]:
        """Hosts that run lookout's own exporter."""
        return tuple(h for h in self.hosts if "lookout" in self.exporters_on(h))

    def service_address(self, s: Service) -> str:
        return s.address or self.host(s.host).address


def _unique(section: str, names: list[str], what: str = "") -> list[str]:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise ValueError(f"{section}[{i}].name: {what or repr(n)} is used twice")
        seen.add(n)
    return names


def _collector_names() -> set[str]:
    from lookout.exporters.collectors import REGISTRY

    return set(REGISTRY)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _placeholder(key: str) -> str:
    if key == "dsn" or key.endswith("_dsn"):
        return "postgresql://lookout@127.0.0.1:5432/placeholder"
    if key.endswith("url") and "broker" in key:
        return "redis://127.0.0.1:6379/0"
    if key.endswith("url"):
        return "https://placeholder.invalid"
    return "placeholder-value"


def _stand_ins(value: Any, key: str, env: dict[str, str]) -> Any:
    """``value`` as the exporter's settings class can check it here: ``${VAR}``s this machine does not set get a
    stand-in (in ``env``) and ``*_file`` secrets are not read, so checking a site reads no secret."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            k = str(k)
            if k.endswith("_file") and isinstance(v, str) and k.removesuffix("_file") not in value:
                base = k.removesuffix("_file")
                name = f"LOOKOUT_SITE_CHECK_{len(env)}"
                env[name] = _placeholder(base)
                out[base] = f"${{{name}}}"
            else:
                out[k] = _stand_ins(v, k, env)
        return out
    if isinstance(value, list | tuple):
        return [_stand_ins(v, key, env) for v in value]
    if isinstance(value, str):
        for m in _VAR.finditer(value):
            if m.group(1) not in os.environ and m.group(2) is None:
                env.setdefault(m.group(1), _placeholder(key))
    return value


def _validate_collector(name: str, settings: Mapping[str, Any], where: str) -> None:
    """The exporter's own settings class checks the settings (unknown keys, types, queries)."""
    from lookout.exporters.collectors import settings_class

    env: dict[str, str] = {}
    checked = _stand_ins({k: v for k, v in settings.items() if k != "enabled"}, name, env)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        build_dataclass(settings_class(name), checked, where)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_site(path: str | os.PathLike[str]) -> Site:
    """Read and validate a site file; raise SiteError with a one-line message naming the key path."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SiteError(f"cannot read the site file: {exc.strerror}") from None
    data = load_yaml(text)
    if not isinstance(data, dict):
        raise SiteError("expected a mapping at the top level")
    return bind(Site, data)


SCHEMA_ID = "https://github.com/lookout-monitoring/lookout/blob/main/monitoring/site.schema.json"
SCHEMA_PATH = Path(__file__).with_name("site.schema.json")


def schema() -> dict[str, Any]:
    return json_schema(Site, "lookout site file", SCHEMA_ID)


def docs() -> str:
    return key_docs(Site)


DOCS_PATH = Path(__file__).resolve().parents[1] / "docs" / "site.md"
DOCS_BEGIN = ("<!-- Generated from monitoring/site.py by `python -m lookout.monitoring.site write`; "
              "do not edit below. -->\n")
DOCS_END = "<!-- end of generated keys -->\n"


def published() -> dict[Path, str]:
    """The schema and docs/site.md as they must be committed (tests/test_site.py compares)."""
    import json

    text = DOCS_PATH.read_text() if DOCS_PATH.exists() else DOCS_BEGIN + DOCS_END
    head, _, rest = text.partition(DOCS_BEGIN)
    _, _, tail = rest.partition(DOCS_END)
    return {SCHEMA_PATH: json.dumps(schema(), indent=2) + "\n",
            DOCS_PATH: head + DOCS_BEGIN + "\n" + docs() + DOCS_END + tail}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["write"]:
        for path, text in published().items():
            path.write_text(text)
        return 0
    sys.stderr.write("usage: python -m lookout.monitoring.site write"
                     "   (the JSON Schema and docs/site.md's key tables)\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

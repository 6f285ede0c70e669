"""The catalog: every signal, threshold, SLO, alert and runbook of lookout, written once.

Reads nothing. Publishes the platform facts from the seeds (``POOLS``, ``PERIODIC_TASKS``, ``CAPACITY``,
``VPS``), ``THRESHOLDS``, ``SLOS``, ``RECORDINGS``, ``ALERTS``, ``INHIBITIONS``, ``FAULT_ALERTS`` and the
addresses the generated files use. ``python -m monitoring generate`` turns it into the dashboards,
Prometheus rules and unit tests, Alertmanager configuration and ``docs/runbooks.md``.

A threshold is a ``Threshold`` object: alert expressions format it into PromQL, and the dashboards draw
the same object as a line, so the board and the page always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitoring.model import Alert, Case, FaultExpectation, Recording, Slo, Threshold

# --- where things live (change here, then `python -m monitoring generate`) -------------------------
GRAFANA_URL = "http://localhost:3000"  # base of every alert's dashboard_url
RUNBOOK_URL = "https://github.com/lookout-monitoring/lookout/blob/main/docs/runbooks.md"  # + #anchor
DATASOURCE_UID = "prometheus"  # uid of the provisioned Prometheus datasource in Grafana
ALERT_RELAY_URL = "http://alert-relay:9095"  # webhook receiver: /page, /ticket, /heartbeat
PAGERDUTY_ROUTING_KEY_FILE = "/etc/alertmanager/secrets/pagerduty_routing_key"
TELEGRAM_BOT_TOKEN_PLACEHOLDER = "TELEGRAM_BOT_TOKEN"  # replaced at deploy time (docs/runbooks.md)
TELEGRAM_CHAT_ID_PLACEHOLDER = -1000000000000
HOST = "vps-1"  # `host` label of every target: one value per VPS

# --- the platforms, from the seeds ----------------------------------------------------------------
GiB = 1024**3


@dataclass(frozen=True)
class Pool:
    service: str
    server: str
    platform: str
    expected_workers: int
    port: int | None


POOLS = (
    Pool("voice-api", "gunicorn", "voice", 4, 5002),  # "ps aux | grep gunicorn | wc -l  # Should be 5"
    Pool("chat-api", "uvicorn", "chatcenter", 2, 8001),  # "Workers: 2 (uvicorn multiprocessing)"
    Pool("celery-worker", "celery", "chatcenter", 2, None),  # "Workers: 2 processes"
)
PERIODIC_TASKS = {  # the chat center's beat schedule, seconds
    "sync_all_sellers": 30,
    "analyze_pending_chats": 120,
    "check_sla_escalation": 300,
    "auto_close_inactive_chats": 86400,
}
CAPACITY = {"active_sellers": 100, "chats_per_day": 10_000, "concurrent_users": 1_000}  # "When to scale"


@dataclass(frozen=True)
class Vps:
    vcpus: int = 2
    memory_bytes: int = 4 * GiB
    disk_bytes: int = 20 * 10**9


VPS = Vps()
CREDIT_SECONDS = 1  # 1 credit = 1 second of conversation
DEEPSEEK_MONTHLY_USD = 10.0  # the seed's estimate: "~$5-10" a month

# Scrape jobs and where they point: the compose service names (the native harness rewrites them).
BLACKBOX_HTTP_TARGETS = (  # (url, platform, service)
    ("http://demo-voice:5002/health", "voice", "voice-api"),
    ("http://demo-voice:5556/health", "voice", "mcp-server"),
    ("http://demo-chat:8001/api/health", "chatcenter", "chat-api"),
)
# Your public HTTPS host:443 in production. Empty in the compose demo, which serves no HTTPS: a plain-HTTP
# target would fail the TLS probe and ticket TlsProbeFailed on a healthy demo. The native stack adds its own
# self-signed HTTPS target (stack.native).
BLACKBOX_TLS_TARGETS: tuple[tuple[str, str, str], ...] = ()
BLACKBOX_HTTP_MODULE = "http_2xx"  # module names of the blackbox exporter's configuration
BLACKBOX_TLS_MODULE = "tls_connect"
ALERTMANAGERS = ("alertmanager-1:9093", "alertmanager-2:9093")
JOBS = ("lookout", "node", "postgres", "redis", "blackbox_http", "blackbox_tls", "chatcenter_api", "nginx")

# --- thresholds -----------------------------------------------------------------------------------
THRESHOLDS: dict[str, Threshold] = {}


def _t(key: str, value: float, unit: str, help: str, color: str = "red") -> Threshold:
    t = Threshold(key, value, unit, help, color)
    THRESHOLDS[key] = t
    return t


T_VOICE_502_RATE = _t("voice_502_rate", 0.05, "reqps", "502 responses per second from nginx (Gunicorn unreachable)")
T_VOICE_5XX_RATIO = _t("voice_5xx_ratio", 0.05, "percentunit", "share of voice requests answered 5xx", "orange")
T_CHAT_5XX_RATIO = _t("chat_5xx_ratio", 0.05, "percentunit", "share of chat API requests answered 5xx", "orange")
T_PG_CONN_RATIO = _t("pg_connections_ratio", 0.8, "percentunit", "connections in use / max_connections", "orange")
T_CREDITS_UNRECONCILED = _t("credits_unreconciled", 0, "short", "conversations not charged in the window",
                            "orange")
T_WORKER_RESTARTS = _t("worker_restarts_10m", 2, "short", "worker restarts within 10 minutes", "orange")
T_LISTEN_QUEUE = _t("listen_queue", 10, "short", "connections waiting in the accept queue", "orange")
T_POOL_MEMORY = _t("pool_memory_bytes", VPS.memory_bytes / 2, "bytes", "RSS of one pool's workers: half the VPS",
                   "orange")
T_CELERY_BACKLOG = _t("celery_backlog", 100, "short", "ready messages in one queue", "orange")
T_CELERY_WAIT = _t("celery_wait_seconds", 300, "s", "age of the oldest waiting message", "orange")
T_CELERY_FAILURE_RATIO = _t("celery_failure_ratio", 0.1, "percentunit", "share of task runs that fail", "orange")
T_STALE_INTERVALS = _t("periodic_stale_intervals", 3, "short", "intervals since a periodic task last succeeded")
T_SYNC_LAG = _t("marketplace_sync_lag", 300, "s", "worst marketplace sync lag (10 sync intervals)", "orange")
T_TOKEN_DAYS = _t("token_expiry_days", 14, "d", "days before an API or marketplace token expires", "orange")
T_SLA_BREACHED = _t("sla_breached", 0, "short", "open interactions past their SLA deadline")
T_LLM_DAILY_BUDGET = _t("llm_daily_budget_usd", round(DEEPSEEK_MONTHLY_USD / 30 * 3, 2), "currencyUSD",
                        "LLM spend per day: three times the seed's monthly estimate / 30", "orange")
T_LLM_RUNWAY_DAYS = _t("llm_runway_days", 7, "d", "days of LLM spend the provider balance still covers", "orange")
T_QUOTA_RATIO = _t("provider_quota_ratio", 0.9, "percentunit", "share of a provider quota used", "orange")
T_DISK_FREE_WARN = _t("disk_free_warning", 0.15, "percentunit", "free share of a filesystem (20 GB disk)",
                      "orange")
T_DISK_FREE_CRIT = _t("disk_free_critical", 0.05, "percentunit", "free share of a filesystem, critical")
T_MEM_AVAILABLE = _t("memory_available", 0.1, "percentunit", "available share of the 4 GB of memory", "orange")
T_LOAD_PER_CPU = _t("load_per_cpu", 2, "short", "5-minute load average per vCPU (2 vCPU)", "orange")
T_REDIS_MEMORY = _t("redis_memory_bytes", VPS.memory_bytes / 4, "bytes", "Redis memory: a quarter of the VPS",
                    "orange")
T_REDIS_MAXMEMORY_RATIO = _t("redis_maxmemory_ratio", 0.9, "percentunit", "Redis memory / maxmemory", "orange")
T_CAPACITY_RATIO = _t("capacity_ratio", 1, "percentunit", "volume / scaling threshold (the seed's limits)",
                      "orange")
T_FORECAST_DAYS = _t("capacity_forecast_days", 14, "d", "forecast horizon for the capacity thresholds", "orange")
T_CONTAINER_RESTARTS = _t("container_restarts_10m", 2, "short", "container exits within 10 minutes", "orange")
T_SLO_LATENCY = _t("slo_latency_seconds", 0.5, "s", "a chat API request slower than this is a bad event", "orange")
T_TLS_DAYS = _t("tls_expiry_days", 14, "d", "days before a TLS certificate expires", "orange")
T_CELERY_MIN_WORKERS = _t("celery_live_workers", 1, "short", "live Celery workers: fewer means no task runs")
T_ERROR_BUDGET_LEFT = _t("error_budget_remaining", 0, "percentunit", "share of the 30-day error budget left")
T_UNPRICED_CALLS = _t("llm_unpriced_calls", 0, "short", "LLM calls the price table cannot price", "orange")
T_CONTAINER_TROUBLE = _t("containers_unhealthy_or_oom", 0, "short", "unhealthy containers, OOM kills",
                         "orange")

DAY = 86400

# --- SLOs (Sloth naming, Google SRE workbook multi-window multi-burn-rate alerts) -----------------
_API = 'job="chatcenter_api",path!~"/api/(health|metrics)"'
SLOS = (
    Slo(
        "chatcenter-api", "availability", 0.995,
        f'1 - (sum by (host) (rate(http_requests_total{{{_API},status_code!~"5.."}}[{{window}}]))'
        f" / sum by (host) (rate(http_requests_total{{{_API}}}[{{window}}])))",
        "Share of chat API requests (health and metrics excluded) answered without a 5xx: 99.5% over 30 days.",
    ),
    Slo(
        "chatcenter-api", "latency", 0.99,
        f'1 - (sum by (host) (rate(http_request_duration_seconds_bucket{{{_API},le="{T_SLO_LATENCY}"}}[{{window}}]))'
        f" / sum by (host) (rate(http_request_duration_seconds_count{{{_API}}}[{{window}}])))",
        f"Share of chat API requests served within {T_SLO_LATENCY} s: 99% over 30 days.",
        thresholds=(T_SLO_LATENCY,),
    ),
)
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (long window, short window, burn-rate factor, severity, for)
BURN_RATES = (("1h", "5m", 14.4, "critical", "2m"), ("6h", "30m", 6, "critical", "2m"),
              ("1d", "2h", 3, "warning", "5m"), ("3d", "6h", 1, "warning", "5m"))

# --- recording rules ------------------------------------------------------------------------------
X = 'job="lookout",instance="exporters:9808"'  # labels of our exporter's series in the unit tests
PG = 'job="postgres",instance="postgres-exporter:9187"'
NODE = 'job="node",instance="node-exporter:9100"'
REDIS = 'job="redis",instance="redis-exporter:9121"'


def _slo_recordings() -> list[Recording]:
    out: list[Recording] = []
    for slo in SLOS:
        group = f"slo-{slo.id}"
        good, total = 900, 1000  # per minute: 10% bad events
        if slo.name == "availability":
            series = {
                'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="200"}':
                    f"0+{good}x20",
                'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="500"}':
                    f"0+{total - good}x20",
                'http_requests_total{job="chatcenter_api",path="/api/health",method="GET",status_code="500"}':
                    "0+5000x20",
            }
        else:
            b = 'http_request_duration_seconds_bucket{job="chatcenter_api",path="/api/chats",method="GET",'
            series = {
                f'{b}le="{T_SLO_LATENCY}"}}': f"0+{good}x20",
                f'{b}le="+Inf"}}': f"0+{total}x20",
                'http_request_duration_seconds_count{job="chatcenter_api",path="/api/chats",method="GET"}':
                    f"0+{total}x20",
            }
        lab = ",".join(f'{k}="{v}"' for k, v in slo.labels.items())
        for w in SLO_WINDOWS:
            out.append(Recording(
                f"slo:sli_error:ratio_rate{w}", group, slo.error_expr.replace("{window}", w),
                Case(series, at="10m", samples=((f'slo:sli_error:ratio_rate{w}{{{lab},sloth_window="{w}"}}', 0.1),)),
                labels={**slo.labels, "sloth_window": w},
            ))
        out.append(Recording(
            "slo:sli_error:ratio_rate30d", group,
            f'sum_over_time(slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}}[30d])'
            f' / ignoring (sloth_window) count_over_time(slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}}[30d])',
            Case(series, at="10m", samples=((f'slo:sli_error:ratio_rate30d{{{lab},sloth_window="30d"}}', 0.1),)),
            labels={**slo.labels, "sloth_window": "30d"},
        ))
        out.append(Recording(
            "slo:objective:ratio", group, f"vector({slo.objective:g})",
            Case({}, at="1m", samples=((f"slo:objective:ratio{{{lab}}}", slo.objective),)), labels=slo.labels,
        ))
        out.append(Recording(
            "slo:error_budget:ratio", group, f"vector({slo.budget:g})",
            Case({}, at="1m", samples=((f"slo:error_budget:ratio{{{lab}}}", slo.budget),)), labels=slo.labels,
        ))
        out.append(Recording(
            "slo:current_burn_rate:ratio", group,
            f'slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}} / on (sloth_id, sloth_slo, sloth_service)'
            f' group_left slo:error_budget:ratio{{sloth_id="{slo.id}"}}',
            Case(series, at="10m", samples=((f'slo:current_burn_rate:ratio{{{lab},sloth_window="5m"}}',
                                             round(0.1 / slo.budget, 6)),)),
            labels=slo.labels,
        ))
        out.append(Recording(
            "slo:period_error_budget_remaining:ratio", group,
            f'1 - slo:sli_error:ratio_rate30d{{sloth_id="{slo.id}"}} / on (sloth_id, sloth_slo, sloth_service)'
            f' group_left slo:error_budget:ratio{{sloth_id="{slo.id}"}}',
            Case(series, at="10m", samples=((f'slo:period_error_budget_remaining:ratio{{{lab},sloth_window="30d"}}',
                                             round(1 - 0.1 / slo.budget, 6)),)),
            labels=slo.labels,
        ))
    return out


_NGINX = 'nginx_http_response_count_total{job="nginx",platform="voice",service="voice-api",method="GET"'
RECORDINGS: list[Recording] = [
    Recording(
        "platform:nginx_http_5xx:ratio_rate5m", "voice-platform",
        'sum by (host, platform, service) (rate(nginx_http_response_count_total{job="nginx",status=~"5.."}[5m]))'
        ' / sum by (host, platform, service) (rate(nginx_http_response_count_total{job="nginx"}[5m]))',
        Case({f'{_NGINX},status="200"}}': "0+90x20", f'{_NGINX},status="502"}}': "0+10x20"},
             samples=(('platform:nginx_http_5xx:ratio_rate5m{platform="voice",service="voice-api"}', 0.1),)),
    ),
    Recording(
        "platform:nginx_http_502:rate5m", "voice-platform",
        'sum by (host, platform, service) (rate(nginx_http_response_count_total{job="nginx",status="502"}[5m]))',
        Case({f'{_NGINX},status="502"}}': "0+60x20"},
             samples=(('platform:nginx_http_502:rate5m{platform="voice",service="voice-api"}', 1),)),
    ),
    Recording(
        "instance:pg_connections:ratio", "voice-platform",
        "sum by (host, instance, job) (pg_stat_activity_count)"
        " / on (instance, job) max by (host, instance, job) (pg_settings_max_connections)",
        Case({f'pg_stat_activity_count{{{PG},datname="voice",state="active"}}': "30x10",
              f'pg_stat_activity_count{{{PG},datname="voice",state="idle"}}': "20x10",
              f"pg_settings_max_connections{{{PG}}}": "100x10"},
             samples=((f"instance:pg_connections:ratio{{{PG}}}", 0.5),)),
    ),
    Recording(
        "service:worker_pool_restarts:increase10m", "worker-pools",
        "sum by (host, platform, service, server) (increase(worker_pool_worker_restarts_total[10m]))",
        Case({f'worker_pool_worker_restarts_total{{{X},platform="voice",service="voice-api",server="gunicorn"}}':
              "0+1x20"},
             at="15m",
             samples=(('service:worker_pool_restarts:increase10m{platform="voice",service="voice-api",'
                       'server="gunicorn"}', 10),)),
    ),
    Recording(
        "task:celery_periodic_staleness:intervals", "celery",
        "(time() - celery_task_last_success_timestamp_seconds) / celery_periodic_task_interval_seconds"
        " and celery_task_last_success_timestamp_seconds > 0",
        Case({f'celery_task_last_success_timestamp_seconds{{{X},name="sync_all_sellers"}}': "300x20",
              f'celery_periodic_task_interval_seconds{{{X},name="sync_all_sellers"}}': "30x20"},
             samples=((f'task:celery_periodic_staleness:intervals{{{X},name="sync_all_sellers"}}', 10),)),
    ),
    Recording(
        "task:celery_task_failure:ratio_rate5m", "celery",
        "sum by (host, name) (rate(celery_task_failed_total[5m]))"
        " / (sum by (host, name) (rate(celery_task_succeeded_total[5m]))"
        " + sum by (host, name) (rate(celery_task_failed_total[5m])))",
        Case({f'celery_task_failed_total{{{X},name="analyze_pending_chats"}}': "0+1x20",
              f'celery_task_succeeded_total{{{X},name="analyze_pending_chats"}}': "0+3x20"},
             samples=(('task:celery_task_failure:ratio_rate5m{name="analyze_pending_chats"}', 0.25),)),
    ),
    Recording(
        "provider:llm_spend_usd:increase1d", "llm",
        "sum by (host, provider) (increase(llm_spend_usd_total[1d]))",
        Case({f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+1x60"},
             at="30m", samples=(('provider:llm_spend_usd:increase1d{provider="deepseek"}', 30),)),
    ),
    Recording(
        "provider:llm_spend_usd:rate1h", "llm",
        "sum by (host, provider) (rate(llm_spend_usd_total[1h]))",
        Case({f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+0.6x70"},
             at="65m", samples=(('provider:llm_spend_usd:rate1h{provider="deepseek"}', 0.01),)),
    ),
    Recording(
        "provider:llm_spend_usd:rate15m", "llm",
        "sum by (host, provider) (rate(llm_spend_usd_total[15m]))",
        Case({f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+0.6x30"},
             at="20m", samples=(('provider:llm_spend_usd:rate15m{provider="deepseek"}', 0.01),)),
    ),
    Recording(
        "provider:llm_balance_runway:days", "llm",
        'sum by (host, provider) (llm_provider_balance{currency="USD"})'
        " / on (host, provider) (provider:llm_spend_usd:rate1h * 86400)",
        Case({f'llm_provider_balance{{{X},provider="deepseek",currency="USD"}}': "1728x70",
              f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+0.6x70"},
             at="65m", samples=(('provider:llm_balance_runway:days{provider="deepseek"}', 2),)),
    ),
    Recording(
        "resource:capacity_usage:ratio", "capacity",
        "capacity_usage / on (instance, job, resource) capacity_threshold",
        Case({f'capacity_usage{{{X},resource="active_sellers"}}': "50x10",
              f'capacity_threshold{{{X},resource="active_sellers"}}': "100x10"},
             samples=((f'resource:capacity_usage:ratio{{{X},resource="active_sellers"}}', 0.5),)),
    ),
    Recording(
        "resource:capacity_days_until_threshold:days", "capacity",
        "(capacity_threshold - on (instance, job, resource) capacity_usage)"
        " / on (instance, job, resource) (deriv(capacity_usage[1d]) * 86400) > 0",
        Case({f'capacity_usage{{{X},resource="active_sellers"}}': "50+1x40",
              f'capacity_threshold{{{X},resource="active_sellers"}}': "100x40"},
             at="30m",
             samples=((f'resource:capacity_days_until_threshold:days{{{X},resource="active_sellers"}}', 20 / 1440),)),
    ),
    Recording(
        "instance:node_filesystem_avail:ratio", "host",
        'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}'
        ' / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}',
        Case({f'node_filesystem_avail_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "5e9x10",
              f'node_filesystem_size_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "2e10x10"},
             samples=((f'instance:node_filesystem_avail:ratio{{{NODE},device="/dev/vda1",fstype="ext4",'
                       f'mountpoint="/"}}', 0.25),)),
    ),
    Recording(
        "instance:node_memory_available:ratio", "host",
        "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
        Case({f"node_memory_MemAvailable_bytes{{{NODE}}}": "1e9x10", f"node_memory_MemTotal_bytes{{{NODE}}}": "4e9x10"},
             samples=((f"instance:node_memory_available:ratio{{{NODE}}}", 0.25),)),
    ),
    Recording(
        "instance:node_load5_per_cpu:ratio", "host",
        'node_load5 / on (instance, job) count by (host, instance, job) (node_cpu_seconds_total{mode="idle"})',
        Case({f"node_load5{{{NODE}}}": "3x10", f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}': "0+60x10",
              f'node_cpu_seconds_total{{{NODE},cpu="1",mode="idle"}}': "0+60x10"},
             samples=((f"instance:node_load5_per_cpu:ratio{{{NODE}}}", 1.5),)),
    ),
]
RECORDINGS += _slo_recordings()


# --- alerts ---------------------------------------------------------------------------------------
def _x(**labels: str) -> str:
    """Series selector of our exporter with extra labels (unit tests)."""
    return "{" + X + "".join(f',{k}="{v}"' for k, v in labels.items()) + "}"


OV, WP, CE, BI, LL, MS, CA, HS, HO = (
    "lookout-overview", "lookout-worker-pools", "lookout-celery", "lookout-billing", "lookout-llm",
    "lookout-marketplace-sla", "lookout-capacity", "lookout-http-slo", "lookout-host",
)
GUNICORN = {"platform": "voice", "service": "voice-api", "server": "gunicorn"}
CTR = _x(name="demo-chat", compose_project="lookout", compose_service="demo-chat")
CTR_UNHEALTHY = _x(name="grafana", compose_project="lookout", compose_service="grafana", status="unhealthy")

ALERTS: list[Alert] = [
    # ---- monitoring itself
    Alert(
        "Watchdog", "lookout-meta", "vector(1)", "info",
        "The alerting pipeline is working; this alert always fires.",
        "Heartbeat from Prometheus through Alertmanager to the dead man's switch (value {{ $value | humanize }}).",
        (OV, "Firing alerts"),
        Case({}, at="1m", labels={}, value=1), None,
        meaning="Always firing. Alertmanager sends it to the heartbeat receiver every minute; the receiver "
        "(a dead man's switch such as healthchecks.io or the relay) raises an alarm when it stops arriving.",
        confirm="Open Alertmanager (`http://127.0.0.1:9093`) and check that Watchdog is listed; "
        "`amtool alert query alertname=Watchdog`.",
        fix="If the heartbeat stopped: Prometheus or Alertmanager is down, or they cannot reach each other. "
        "`systemctl status prometheus prometheus-alertmanager` (or `docker compose ps`), then their logs.",
    ),
    Alert(
        "TargetDown", "lookout-meta", "up == 0", "warning",
        "A scrape target does not answer Prometheus.",
        "{{ $labels.job }} target {{ $labels.instance }} has been down for 2 minutes.",
        (OV, "Scrape targets up"),
        Case({'up{job="redis",instance="redis-exporter:9121"}': "0x10"}, value=0),
        Case({'up{job="redis",instance="redis-exporter:9121"}': "1x10"}),
        for_="2m",
        meaning="Prometheus cannot scrape an exporter or app: everything it publishes is missing, so other "
        "alerts about it cannot fire.",
        confirm="Prometheus > Status > Targets shows the error; `curl -s http://TARGET/metrics | head`.",
        fix="Start the exporter or app (`systemctl restart NAME` / `docker compose up -d NAME`); check its "
        "journal (`journalctl -u NAME -n 100`) and the firewall between Prometheus and the target.",
    ),
    Alert(
        "TargetAbsent", "lookout-meta",
        " or ".join(f'absent(up{{job="{j}"}})' for j in JOBS), "warning",
        "A scrape job has no target at all.",
        "Prometheus has no target for job {{ $labels.job }}: the scrape configuration lost it.",
        (OV, "Scrape targets up"),
        Case({f'up{{job="{j}",instance="x"}}': "1x10" for j in JOBS if j != "nginx"}, labels={"job": "nginx"},
             value=1),
        Case({f'up{{job="{j}",instance="x"}}': "1x10" for j in JOBS}),
        for_="5m",
        meaning="A job the dashboards and alerts rely on is not scraped at all (not even failing), so its "
        "`up` series is absent and TargetDown cannot fire for it.",
        confirm="Prometheus > Status > Targets: the job is missing. `promtool check config prometheus.yml`.",
        fix="Restore the job in `prometheus/prometheus.yml` (it is generated: `python -m monitoring generate`) "
        "and reload Prometheus (`curl -X POST http://127.0.0.1:9090/-/reload`).",
    ),
    Alert(
        "ExporterCollectorDown", "lookout-meta", "exporter_collector_up == 0", "warning",
        "A lookout collector cannot read its source.",
        "Collector {{ $labels.collector }} on {{ $labels.instance }} has failed for 3 minutes; its gauges are gone.",
        (OV, "Collectors up"),
        Case({f"exporter_collector_up{_x(collector='celery')}": "0x10"}),
        Case({f"exporter_collector_up{_x(collector='celery')}": "1x10"}),
        for_="3m",
        meaning="One collector of the lookout exporter fails to refresh (source down, bad credentials, query "
        "error or timeout). The exporter keeps serving; the collector's gauges are dropped.",
        confirm="The exporter's log says why, once per state change: `journalctl -u lookout-exporter -n 50` "
        "(or `docker compose logs exporters`). `python -m exporters once --config FILE` runs every collector once.",
        fix="Fix the source (database, Redis, provider API) or the collector's settings "
        "(docs/configuration.md); the collector recovers on its next refresh.",
    ),
    # ---- voice platform: the first seed's incident playbook
    Alert(
        "VoiceSiteBadGateway", "voice-platform", f"platform:nginx_http_502:rate5m > {T_VOICE_502_RATE}", "critical",
        "Nginx answers 502 Bad Gateway for the voice platform.",
        "{{ $labels.service }} returns {{ $value | humanize }} 502 responses per second: Gunicorn is down or "
        "unreachable.",
        (OV, "Voice: 502 responses"),
        Case({f'{_NGINX},status="502"}}': "0+6x20"}, labels={"platform": "voice", "service": "voice-api"},
             value=0.1),
        Case({f'{_NGINX},status="502"}}': "0+3x20"}),
        for_="1m", thresholds=(T_VOICE_502_RATE,),
        meaning="Playbook incident 1: nginx cannot reach Gunicorn on port 5002 (master down, all workers busy "
        "or dead, socket gone). Customers see the 502 page.",
        confirm="`systemctl status api.service`; `journalctl -u api.service -n 100`; `lsof -i :5002` should "
        "show gunicorn; `ps aux | grep gunicorn | wc -l` should print 5 (1 master + 4 workers).",
        fix="Check the logs first, then `sudo systemctl restart api.service` (or the platform's "
        "`restart_all.sh`); verify with `curl` + status + logs and write an incident note.",
    ),
    Alert(
        "VoiceHttp5xxRateHigh", "voice-platform",
        f"platform:nginx_http_5xx:ratio_rate5m > {T_VOICE_5XX_RATIO}", "warning",
        "Too many voice platform requests fail with 5xx.",
        "{{ $value | humanizePercentage }} of {{ $labels.service }} requests answered 5xx over 5 minutes.",
        (OV, "Voice: 5xx share"),
        Case({f'{_NGINX},status="200"}}': "0+90x20", f'{_NGINX},status="500"}}': "0+10x20"},
             labels={"platform": "voice", "service": "voice-api"}, value=0.1),
        Case({f'{_NGINX},status="200"}}': "0+96x20", f'{_NGINX},status="500"}}': "0+4x20"}),
        for_="5m", thresholds=(T_VOICE_5XX_RATIO,),
        meaning="Playbook incident 2: Flask raises (500) or Gunicorn times out (502/504) on a share of "
        "requests above the threshold.",
        confirm="`tail -n 200 /var/log/<app>/gunicorn-error.log | grep -i 'error\\|exception\\|traceback'` "
        "(your Gunicorn error log); nginx `error.log`.",
        fix="On `ModuleNotFoundError`: reinstall requirements in the venv and restart the service. Otherwise "
        "roll back the last deploy or fix the exception; restart with the platform's restart script.",
    ),
    Alert(
        "ServiceProbeFailed", "voice-platform", 'probe_success{job="blackbox_http",service!="mcp-server"} == 0',
        "critical",
        "A platform health endpoint fails its HTTP probe.",
        "{{ $labels.service }} health check {{ $labels.instance }} has failed for 1 minute.",
        (OV, "Health probes"),
        Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5002/health",platform="voice",'
              'service="voice-api"}': "0x10"}),
        Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5002/health",platform="voice",'
              'service="voice-api"}': "1x10"}),
        for_="1m",
        meaning="The blackbox exporter cannot get a 2xx from a `/health` endpoint: the voice API (5002), the "
        "chat API (8001/api/health). The MCP tool server (5556) has its own alert, McpServerDown.",
        confirm="`curl -sv URL` from the Prometheus host; `systemctl status` of the service behind it.",
        fix="Restart the service after reading its journal; if the port is open but slow, see the worker "
        "pool board (all workers busy, listen queue).",
    ),
    Alert(
        "McpServerDown", "voice-platform", 'probe_success{job="blackbox_http",service="mcp-server"} == 0',
        "critical",
        "The MCP tool server does not answer its health check.",
        "MCP tool server {{ $labels.instance }} has failed its health probe for 1 minute: agents cannot call tools.",
        (OV, "Health probes"),
        Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5556/health",platform="voice",'
              'service="mcp-server"}': "0x10"}),
        Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5556/health",platform="voice",'
              'service="mcp-server"}': "1x10"}),
        for_="1m",
        meaning="Playbook incident 5: agents stop calling tools because the MCP server (port 5556) is down.",
        confirm="`curl http://localhost:5556/health`; `systemctl status mcp-server.service`; "
        "`journalctl -u mcp-server.service -n 100`.",
        fix="`sudo systemctl restart mcp-server.service` after reading the journal; if healthy but agents still "
        "do not call tools, check the agent's tool configuration at ElevenLabs.",
    ),
    Alert(
        "PostgresDown", "voice-platform", "pg_up == 0", "critical",
        "PostgreSQL does not answer the exporter.",
        "postgres_exporter {{ $labels.instance }} cannot connect to PostgreSQL for 1 minute.",
        (HO, "PostgreSQL up"),
        Case({f"pg_up{{{PG}}}": "0x10"}), Case({f"pg_up{{{PG}}}": "1x10"}), for_="1m",
        meaning="Playbook incident 3 (P1): the database is down or refuses connections; every platform "
        "request that touches it fails.",
        confirm="`systemctl status postgresql`; `sudo -u postgres psql -c 'SELECT 1'`; the PostgreSQL log.",
        fix="Restart PostgreSQL after reading its log (disk full? see HostDiskSpaceCritical); then restart the "
        "apps if their pools do not reconnect.",
    ),
    Alert(
        "PostgresConnectionsNearMax", "voice-platform", f"instance:pg_connections:ratio > {T_PG_CONN_RATIO}",
        "warning",
        "PostgreSQL connections are close to max_connections.",
        "{{ $value | humanizePercentage }} of max_connections are in use on {{ $labels.instance }}.",
        (HO, "PostgreSQL connections / max_connections"),
        Case({f'pg_stat_activity_count{{{PG},datname="voice",state="idle in transaction"}}': "85x10",
              f"pg_settings_max_connections{{{PG}}}": "100x10"}, labels={"job": "postgres",
             "instance": "postgres-exporter:9187"}, value=0.85),
        Case({f'pg_stat_activity_count{{{PG},datname="voice",state="idle in transaction"}}': "80x10",
              f"pg_settings_max_connections{{{PG}}}": "100x10"}),
        for_="2m", thresholds=(T_PG_CONN_RATIO,),
        meaning="Playbook incident 3: the connection pool is about to be exhausted; new connections will be "
        "refused with 'too many clients'.",
        confirm="`sudo -u postgres psql -c 'SELECT count(*) FROM pg_stat_activity;'` and "
        "`SELECT state, count(*) FROM pg_stat_activity GROUP BY 1;` (look for 'idle in transaction'); blocking "
        "queries: `SELECT * FROM pg_stat_activity WHERE state = 'active';`.",
        fix="Terminate leaked sessions (`SELECT pg_terminate_backend(pid) ...` for old idle-in-transaction ones), "
        "fix the leak in the app, size pools so workers x pool size < max_connections.",
    ),
    Alert(
        "CreditsNotCharged", "voice-platform",
        f'sum by (host, reason) (credits_conversations_unreconciled{{reason=~"no_end_event|not_charged"}})'
        f" > {T_CREDITS_UNRECONCILED}",
        "warning",
        "Voice conversations are not being charged.",
        "{{ $value | humanize }} conversations in the window are unreconciled ({{ $labels.reason }}): credits "
        "are not charged.",
        (BI, "Unreconciled conversations"),
        Case({f"credits_conversations_unreconciled{_x(reason='no_end_event')}": "3x10"},
             labels={"reason": "no_end_event"}, value=3),
        Case({f"credits_conversations_unreconciled{_x(reason='no_end_event')}": "0x10"}),
        for_="2m", thresholds=(T_CREDITS_UNRECONCILED,),
        meaning="Playbook incident 4: a `conversation:end` webhook was missed (or the end was recorded but no "
        "charge followed), so the call was never billed. Each second is a credit lost.",
        confirm="`python -m exporters report credits --config FILE` lists the conversations; the platform's "
        "journal should show BOTH `conversation:init` and `conversation:end` for each "
        "(`journalctl -u api.service -f | grep conversation`).",
        fix="Re-apply the agent's webhook configuration (the platform's `scripts/fix_agent_webhooks.py <agent_id>`), "
        "then charge the listed conversations from ElevenLabs' conversation details.",
    ),
    Alert(
        "CreditsChargeMismatch", "voice-platform",
        f'credits_conversations_unreconciled{{reason="charge_mismatch"}} > {T_CREDITS_UNRECONCILED}', "warning",
        "Charged credits differ from conversation durations.",
        "{{ $value | humanize }} conversations were charged a different number of credits than their duration.",
        (BI, "Unreconciled conversations"),
        Case({f"credits_conversations_unreconciled{_x(reason='charge_mismatch')}": "2x10"}, value=2),
        Case({f"credits_conversations_unreconciled{_x(reason='charge_mismatch')}": "0x10"}),
        for_="2m", thresholds=(T_CREDITS_UNRECONCILED,),
        meaning="1 credit = 1 second: a charge that differs from `call_duration_secs` beyond the tolerance means "
        "the charging code is wrong (over- or under-billing).",
        confirm="`python -m exporters report credits --config FILE` shows charged vs duration per conversation.",
        fix="Fix the charging code path (credits_manager); correct the affected balances from the report.",
    ),
    Alert(
        "ElevenLabsEndEventsMissing", "voice-platform", "elevenlabs_conversations_missing_end_event > 0",
        "warning",
        "ElevenLabs reports finished conversations the platform never saw end.",
        "{{ $value | humanize }} conversations finished at ElevenLabs have no end event in the database.",
        (BI, "Missing end webhooks (ElevenLabs cross-check)"),
        Case({f"elevenlabs_conversations_missing_end_event{{{X}}}": "4x10"}, value=4),
        Case({f"elevenlabs_conversations_missing_end_event{{{X}}}": "0x10"}),
        for_="2m", thresholds=(T_CREDITS_UNRECONCILED,),
        meaning="ElevenLabs does not retry webhooks by default and disables endpoints after repeated failures: "
        "these conversations will never be charged unless reconciled.",
        confirm="ElevenLabs dashboard > Agent > Webhooks (endpoint enabled?); the platform's webhook logs.",
        fix="Re-enable/fix the webhook endpoint and signature secret, then reconcile as for CreditsNotCharged.",
    ),
    # ---- worker pools
    Alert(
        "WorkerPoolMasterDown", "worker-pools", "worker_pool_master_up == 0", "critical",
        "A Gunicorn, Uvicorn or Celery master process is not running.",
        "The {{ $labels.server }} master of {{ $labels.service }} is down: the service does not serve.",
        (WP, "Master up"),
        Case({f"worker_pool_master_up{_x(**GUNICORN)}": "0x10"}),
        Case({f"worker_pool_master_up{_x(**GUNICORN)}": "1x10"}),
        for_="1m",
        meaning="The arbiter/master process is gone, and its workers with it: for Gunicorn this is the 502 of "
        "playbook incident 1; for Celery no task runs.",
        confirm="`systemctl status api.service` (or the chat/celery unit); "
        "`ps aux | grep -E 'gunicorn|uvicorn|celery'`.",
        fix="Read the journal for the crash reason, then `sudo systemctl restart <unit>`; check that systemd's "
        "`Restart=` policy is set so it comes back by itself.",
    ),
    Alert(
        "WorkerPoolWorkersBelowExpected", "worker-pools",
        "worker_pool_workers < worker_pool_workers_expected and worker_pool_master_up == 1", "warning",
        "A worker pool runs fewer workers than configured.",
        "{{ $labels.service }} ({{ $labels.server }}) has fewer live workers than expected for 2 minutes.",
        (WP, "Workers vs expected"),
        Case({f"worker_pool_workers{_x(**GUNICORN)}": "3x10", f"worker_pool_workers_expected{_x(**GUNICORN)}": "4x10",
              f"worker_pool_master_up{_x(**GUNICORN)}": "1x10"}, labels={**GUNICORN, "job": "lookout",
             "instance": "exporters:9808"}, value=3),
        Case({f"worker_pool_workers{_x(**GUNICORN)}": "4x10", f"worker_pool_workers_expected{_x(**GUNICORN)}": "4x10",
              f"worker_pool_master_up{_x(**GUNICORN)}": "1x10"}),
        for_="2m",
        meaning=f"The master is alive but does not keep its workers up ({POOLS[0].expected_workers} Gunicorn "
        f"workers, {POOLS[1].expected_workers} Uvicorn workers, Celery concurrency {POOLS[2].expected_workers}): "
        "workers crash at boot or are killed (OOM) faster than they are replaced.",
        confirm="`ps aux | grep gunicorn | wc -l` should print 5; the journal shows worker boot errors or "
        "`WORKER TIMEOUT`; `dmesg | grep -i oom`.",
        fix="Fix the boot error or memory pressure; restart the service.",
    ),
    Alert(
        "WorkerPoolRestartLoop", "worker-pools",
        f"service:worker_pool_restarts:increase10m > {T_WORKER_RESTARTS}", "warning",
        "Workers of a pool keep dying and being replaced.",
        "{{ $value | humanize }} workers of {{ $labels.service }} were replaced in 10 minutes.",
        (WP, "Worker restarts (10 min)"),
        Case({f"worker_pool_worker_restarts_total{_x(**GUNICORN)}": "0+1x20"}, at="12m", labels=GUNICORN, value=10),
        Case({f"worker_pool_worker_restarts_total{_x(**GUNICORN)}": "0+0.19x30"}, at="25m"),
        for_="1m", thresholds=(T_WORKER_RESTARTS,),
        meaning="Worker PIDs churn under a live master: workers crash (exceptions at import, segfaults), hit "
        "the timeout (`WORKER TIMEOUT`), max_requests, or the OOM killer.",
        confirm="Journal of the unit around the restarts; `dmesg -T | grep -i -E 'killed process|oom'`.",
        fix="Fix the crash; raise the worker timeout for slow endpoints; reduce memory per worker.",
    ),
    Alert(
        "WorkerPoolListenQueueSaturated", "worker-pools", f"worker_pool_listen_queue_length > {T_LISTEN_QUEUE}",
        "warning",
        "Connections wait in the accept queue: all workers are busy.",
        "{{ $value | humanize }} connections wait to be accepted by {{ $labels.service }} for 2 minutes.",
        (WP, "Listen queue"),
        Case({f"worker_pool_listen_queue_length{_x(**GUNICORN)}": "25x10"}, value=25),
        Case({f"worker_pool_listen_queue_length{_x(**GUNICORN)}": "10x10"}),
        for_="2m", thresholds=(T_LISTEN_QUEUE,),
        meaning="Every worker is busy and new connections pile up in the kernel's accept queue: latency grows "
        "and nginx will time out (504/502) when it is full.",
        confirm="`ss -ltn 'sport = :5002'` (Recv-Q is the queue, Send-Q the limit); the busy-workers panel.",
        fix="Find the slow requests (a slow DB query, an LLM call in the request path); add workers if CPU "
        "allows (2 vCPU: 2-4 sync workers), or move slow work to Celery.",
    ),
    Alert(
        "WorkerPoolMemoryHigh", "worker-pools", f"worker_pool_workers_resident_memory_bytes > {T_POOL_MEMORY}",
        "warning",
        "A worker pool uses more than half of the VPS memory.",
        "The workers of {{ $labels.service }} use {{ $value | humanize1024 }}B of resident memory.",
        (WP, "Worker memory (RSS)"),
        Case({f"worker_pool_workers_resident_memory_bytes{_x(**GUNICORN)}": f"{3 * GiB}x20"}, value=3 * GiB),
        Case({f"worker_pool_workers_resident_memory_bytes{_x(**GUNICORN)}": f"{2 * GiB}x20"}),
        for_="5m", thresholds=(T_POOL_MEMORY,),
        meaning="The pool's workers grow (a leak, large responses held in memory, too many workers for 4 GB): "
        "the OOM killer is next, and it may pick PostgreSQL or Redis.",
        confirm="`ps -o pid,rss,cmd -C gunicorn` (or uvicorn/celery); the largest-worker series on the board.",
        fix="Set `max_requests` (Gunicorn) or `--max-tasks-per-child` (Celery) to recycle leaking workers; "
        "lower the worker count; fix the leak.",
    ),
    # ---- Celery
    Alert(
        "CeleryQueueBacklog", "celery", f"celery_queue_length > {T_CELERY_BACKLOG}", "warning",
        "A Celery queue is backing up.",
        "Queue {{ $labels.queue_name }} holds {{ $value | humanize }} ready messages for 5 minutes.",
        (CE, "Queue length"),
        Case({f"celery_queue_length{_x(queue_name='celery')}": "150x10"}, value=150),
        Case({f"celery_queue_length{_x(queue_name='celery')}": "100x10"}),
        for_="5m", thresholds=(T_CELERY_BACKLOG,),
        meaning="Tasks are produced faster than the workers run them (too few workers, slow tasks, or a "
        "stuck worker).",
        confirm="`celery -A APP inspect active`; `redis-cli llen celery`; the waiting-age panel.",
        fix="Restart a stuck worker (`sudo systemctl restart <app>-celery`); raise concurrency if "
        "CPU allows; find the slow task in the runtime panel.",
    ),
    Alert(
        "CeleryTaskWaitingTooLong", "celery", f"celery_queue_oldest_message_age_seconds > {T_CELERY_WAIT}",
        "warning",
        "Celery tasks wait too long before a worker picks them up.",
        "The oldest message in {{ $labels.queue_name }} has waited {{ $value | humanizeDuration }}.",
        (CE, "Oldest message age"),
        Case({f"celery_queue_oldest_message_age_seconds{_x(queue_name='celery')}": "600x10"}, value=600),
        Case({f"celery_queue_oldest_message_age_seconds{_x(queue_name='celery')}": "300x10"}),
        for_="2m", thresholds=(T_CELERY_WAIT,),
        meaning="Work is delayed: marketplace sync every 30 s and SLA escalation every 5 min run late.",
        confirm="The queue-length and workers panels; `celery -A APP inspect active` for long tasks.",
        fix="As for CeleryQueueBacklog; a dead worker shows in CeleryNoLiveWorker.",
    ),
    Alert(
        "CeleryNoLiveWorker", "celery", f"celery_workers < {T_CELERY_MIN_WORKERS}", "critical",
        "No Celery worker is alive.",
        "{{ $labels.instance }} sees no Celery worker heartbeat: background tasks do not run.",
        (CE, "Live workers"),
        Case({f"celery_workers{{{X}}}": "0x10"}), Case({f"celery_workers{{{X}}}": "1x10"}), for_="1m",
        thresholds=(T_CELERY_MIN_WORKERS,),
        meaning="No worker sends heartbeats: marketplace sync, chat analysis and SLA escalation have stopped; "
        "beat keeps queueing tasks that nobody runs.",
        confirm="`sudo systemctl status <app>-celery`; `sudo journalctl -u <unit> -n 100`; "
        "`celery -A APP inspect ping`.",
        fix="Restart the worker unit after reading the journal (import error, broker URL, OOM).",
    ),
    Alert(
        "CeleryWorkerDown", "celery", "celery_worker_up == 0", "warning",
        "A known Celery worker stopped sending heartbeats.",
        "Worker {{ $labels.hostname }} has stopped sending heartbeats.",
        (CE, "Live workers"),
        Case({f"celery_worker_up{_x(hostname='celery@vps')}": "0x10"}),
        Case({f"celery_worker_up{_x(hostname='celery@vps')}": "1x10"}), for_="1m",
        meaning="One worker died or hangs (SIGKILL, OOM); others may still run tasks.",
        confirm="`celery -A APP inspect ping`; the unit's journal; `dmesg | grep -i oom`.",
        fix="Restart the worker unit; if it was OOM-killed, lower concurrency or the task's memory use.",
    ),
    Alert(
        "CeleryPeriodicTaskStale", "celery",
        f"task:celery_periodic_staleness:intervals > {T_STALE_INTERVALS}", "warning",
        "A periodic Celery task has not succeeded for 3 intervals.",
        "{{ $labels.name }} has not succeeded for {{ $value | humanize }} of its intervals.",
        (CE, "Periodic tasks: intervals since last success"),
        Case({f"celery_task_last_success_timestamp_seconds{_x(name='sync_all_sellers')}": "1x20",
              f"celery_periodic_task_interval_seconds{_x(name='sync_all_sellers')}": "30x20"}, at="10m",
             labels={"job": "lookout", "instance": "exporters:9808", "name": "sync_all_sellers"}, value=599 / 30),
        Case({f"celery_task_last_success_timestamp_seconds{_x(name='sync_all_sellers')}": "0+60x20",
              f"celery_periodic_task_interval_seconds{_x(name='sync_all_sellers')}": "30x20"}, at="10m"),
        for_="1m", thresholds=(T_STALE_INTERVALS,),
        meaning="Beat stopped sending the task, or every run fails: "
        + ", ".join(f"`{k}` every {v} s" for k, v in PERIODIC_TASKS.items())
        + ". A stale `sync_all_sellers` means chats are not synced; a stale `check_sla_escalation` means breaches "
        "are not escalated.",
        confirm="`sudo systemctl status <app>-celery-beat`; the task's failures on the Celery board; "
        "the worker's journal for the task's traceback.",
        fix="Restart beat (`sudo systemctl restart <beat unit>`) if it stopped; fix the task if it fails.",
    ),
    Alert(
        "CeleryTaskFailureRateHigh", "celery",
        f"task:celery_task_failure:ratio_rate5m > {T_CELERY_FAILURE_RATIO}", "warning",
        "A Celery task fails too often.",
        "{{ $value | humanizePercentage }} of {{ $labels.name }} runs failed over 5 minutes.",
        (CE, "Task failure share"),
        Case({f"celery_task_failed_total{_x(name='analyze_pending_chats')}": "0+1x20",
              f"celery_task_succeeded_total{_x(name='analyze_pending_chats')}": "0+3x20"},
             labels={"name": "analyze_pending_chats"}, value=0.25),
        Case({f"celery_task_failed_total{_x(name='analyze_pending_chats')}": "0+1x20",
              f"celery_task_succeeded_total{_x(name='analyze_pending_chats')}": "0+9x20"}),
        for_="5m", thresholds=(T_CELERY_FAILURE_RATIO,),
        meaning="A task raises on a share of its runs: a provider answering 402/429/5xx, a schema change, a bug.",
        confirm="The worker's journal for the traceback; provider panels (LLM, marketplace).",
        fix="Fix the cause; failed periodic runs recover on the next schedule.",
    ),
    # ---- chat center business
    Alert(
        "MarketplaceSyncLagging", "chatcenter", f"marketplace_sync_lag_seconds > {T_SYNC_LAG}", "warning",
        "Marketplace sync is falling behind.",
        "{{ $labels.marketplace }} {{ $labels.kind }} sync lags by {{ $value | humanizeDuration }}.",
        (MS, "Sync lag (worst seller)"),
        Case({f"marketplace_sync_lag_seconds{_x(marketplace='wb', kind='chats')}": "900x10"}, value=900),
        Case({f"marketplace_sync_lag_seconds{_x(marketplace='wb', kind='chats')}": "300x10"}),
        for_="2m", thresholds=(T_SYNC_LAG,),
        meaning="`sync_all_sellers` runs every 30 s; a seller not synced for 10 intervals means buyers' "
        "messages are not seen (marketplace slow, rate-limited (429), failing (5xx), or a token expired).",
        confirm="`python -m exporters report sync --config FILE` lists the sellers; the erroring-sellers panel; "
        "the Celery periodic-task panel.",
        fix="Rate limits (~100 req/min per token): spread sellers; 5xx: wait and watch; token errors: renew the "
        "seller's token.",
    ),
    Alert(
        "SlaBreached", "chatcenter", f"sum by (host, channel) (sla_interactions_breached) > {T_SLA_BREACHED}",
        "critical",
        "Buyer interactions passed their SLA deadline unanswered.",
        "{{ $value | humanize }} open {{ $labels.channel }} interactions are past their SLA deadline.",
        (MS, "SLA: breached and at risk"),
        Case({f"sla_interactions_breached{_x(channel='chat')}": "2x10"}, labels={"channel": "chat"}, value=2),
        Case({f"sla_interactions_breached{_x(channel='chat')}": "0x10"}),
        for_="1m", thresholds=(T_SLA_BREACHED,),
        meaning="Chats, feedbacks or questions are open past the deadline of their `sla_rules`: sellers are "
        "penalised by the marketplace.",
        confirm="`python -m exporters report sla --config FILE`; check `check_sla_escalation` runs (Celery board).",
        fix="Escalate to the seller's operators now; if escalation itself is stale, restart Celery beat/worker.",
    ),
    Alert(
        "ApiTokenExpiringSoon", "chatcenter",
        f"(api_token_expiry_timestamp_seconds - time()) / 86400 < {T_TOKEN_DAYS}", "warning",
        "An API token expires within 14 days.",
        "Token {{ $labels.name }} expires in {{ $value | humanize }} days.",
        (MS, "Days until token expiry"),
        Case({f"api_token_expiry_timestamp_seconds{_x(name='wb_feedbacks')}": f"{10 * DAY + 600}x20"}, at="10m",
             value=10),
        Case({f"api_token_expiry_timestamp_seconds{_x(name='wb_feedbacks')}": f"{14 * DAY + 600}x20"}, at="10m"),
        for_="5m", thresholds=(T_TOKEN_DAYS,),
        meaning="A JWT the platform uses (for example the WB connector token, valid 180 days) is about to "
        "expire; syncs will fail with 401 afterwards.",
        confirm="The token's `exp` claim (`python -m exporters once --config FILE | grep api_token`).",
        fix="Issue a new token at the provider, store it in the secrets file, restart the service that uses it.",
    ),
    Alert(
        "MarketplaceTokenExpiringSoon", "chatcenter",
        f"(marketplace_token_earliest_expiry_timestamp_seconds - time()) / 86400 < {T_TOKEN_DAYS}", "warning",
        "A seller's marketplace token expires within 14 days.",
        "The first {{ $labels.marketplace }} seller token expires in {{ $value | humanize }} days.",
        (MS, "Days until token expiry"),
        Case({f"marketplace_token_earliest_expiry_timestamp_seconds{_x(marketplace='wb')}": f"{3 * DAY + 600}x20"},
             at="10m", value=3),
        Case({f"marketplace_token_earliest_expiry_timestamp_seconds{_x(marketplace='wb')}": f"{14 * DAY + 600}x20"},
             at="10m"),
        for_="5m", thresholds=(T_TOKEN_DAYS,),
        meaning="A seller's WB/Ozon token (WB JWTs are valid 180 days) expires soon: that seller's sync stops.",
        confirm="`python -m exporters report sync --config FILE` lists sellers and token expiry.",
        fix="Ask the seller to issue a new token and update it in the seller's settings.",
    ),
    # ---- LLM spend and providers
    Alert(
        "LlmSpendOverDailyBudget", "llm", f"provider:llm_spend_usd:increase1d > {T_LLM_DAILY_BUDGET}", "warning",
        "LLM spend over the last day is above the daily budget.",
        "{{ $labels.provider }} spend over 24 h is {{ $value | humanize }} USD.",
        (LL, "Spend per day (USD)"),
        Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.5x40"}, at="30m", labels={"provider": "deepseek"}, value=15),
        Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.03x40"}, at="30m"),
        for_="5m", thresholds=(T_LLM_DAILY_BUDGET,),
        meaning="Token usage (cache-miss input, output) costs more than the budget: a prompt grew, a loop "
        "re-analyses chats, or prices changed (the price table is versioned in the exporter).",
        confirm="LLM board: spend by model and feature, tokens by type; `llm_usage` rows of the last hour.",
        fix="Find the feature that spikes; cap it; check cache-hit share (cache-hit input costs ~2% of cache-miss).",
    ),
    Alert(
        "LlmSpendRateHigh", "llm", f"provider:llm_spend_usd:rate15m * 86400 > {T_LLM_DAILY_BUDGET}", "warning",
        "LLM spend over the last 15 minutes runs above the daily budget's pace.",
        "{{ $labels.provider }} spends at {{ $value | humanize }} USD per day over the last 15 minutes.",
        (LL, "Spend pace (USD per day, last 15 min)"),
        Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.01x30"}, at="20m", labels={"provider": "deepseek"}, value=14.4),
        Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.0006x30"}, at="20m"),
        for_="5m", thresholds=(T_LLM_DAILY_BUDGET,),
        meaning="The spend pace of the last 15 minutes, projected over a day, exceeds the budget: the daily "
        "alert would fire hours later.",
        confirm="LLM board: spend by model and feature over the last 15 minutes.",
        fix="As for LlmSpendOverDailyBudget.",
    ),
    Alert(
        "LlmBalanceRunwayShort", "llm", f"provider:llm_balance_runway:days < {T_LLM_RUNWAY_DAYS}", "warning",
        "The LLM provider balance lasts less than 7 days at the current pace.",
        "{{ $labels.provider }} balance covers {{ $value | humanize }} more days of spend.",
        (LL, "Balance runway (days)"),
        Case({f"llm_provider_balance{_x(provider='deepseek', currency='USD')}": "1728x70",
              f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.6x70"}, at="65m", labels={"provider": "deepseek"}, value=2),
        Case({f"llm_provider_balance{_x(provider='deepseek', currency='USD')}": "6100x70",
              f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.6x70"}, at="65m"),
        for_="5m", thresholds=(T_LLM_RUNWAY_DAYS,),
        meaning="At the last hour's spend pace the prepaid balance runs out within a week; then every call "
        "gets HTTP 402 Insufficient Balance and chat analysis stops.",
        confirm="DeepSeek console balance; LLM board balance and spend panels.",
        fix="Top up the balance, or reduce spend (see LlmSpendOverDailyBudget).",
    ),
    Alert(
        "LlmProviderBalanceUnavailable", "llm", "llm_provider_balance_available == 0", "critical",
        "The LLM provider reports the balance as insufficient for API calls.",
        "{{ $labels.provider }} reports no available balance: API calls fail with 402.",
        (LL, "Provider balance"),
        Case({f"llm_provider_balance_available{_x(provider='deepseek')}": "0x10"}),
        Case({f"llm_provider_balance_available{_x(provider='deepseek')}": "1x10"}), for_="1m",
        meaning="DeepSeek's `/user/balance` says `is_available: false`: every completion returns "
        "402 Insufficient Balance; chats stay unanalysed and drafts are not generated.",
        confirm="`curl -H 'Authorization: Bearer $KEY' https://api.deepseek.com/user/balance`; "
        "analyze_pending_chats failures on the Celery board.",
        fix="Top up the balance now; failed analyses are retried by the next `analyze_pending_chats` runs.",
    ),
    Alert(
        "ProviderQuotaNearLimit", "llm",
        f"elevenlabs_subscription_characters_used / elevenlabs_subscription_characters_limit > {T_QUOTA_RATIO}",
        "warning",
        "A provider subscription quota is nearly used up.",
        "ElevenLabs has used {{ $value | humanizePercentage }} of its character quota for this period.",
        (LL, "ElevenLabs quota used"),
        Case({f"elevenlabs_subscription_characters_used{{{X}}}": "95000x10",
              f"elevenlabs_subscription_characters_limit{{{X}}}": "100000x10"},
             labels={"job": "lookout", "instance": "exporters:9808"}, value=0.95),
        Case({f"elevenlabs_subscription_characters_used{{{X}}}": "90000x10",
              f"elevenlabs_subscription_characters_limit{{{X}}}": "100000x10"}),
        for_="5m", thresholds=(T_QUOTA_RATIO,),
        meaning="When the quota is exhausted before the next reset, ElevenLabs refuses new conversations: "
        "voice agents stop answering calls.",
        confirm="ElevenLabs > Subscription: usage and reset date (the board shows the next reset).",
        fix="Upgrade the plan or enable usage-based billing before the quota runs out.",
    ),
    Alert(
        "LlmUnpricedUsage", "llm",
        f"sum by (host, provider, model) (increase(llm_unpriced_calls_total[1h])) > {T_UNPRICED_CALLS}",
        "info",
        "LLM calls use a model the price table cannot price.",
        "{{ $value | humanize }} calls to {{ $labels.provider }} model {{ $labels.model }} in the last hour were "
        "not priced.",
        (LL, "Unpriced calls (unknown models)"),
        Case({f"llm_unpriced_calls_total{_x(provider='deepseek', model='deepseek-v9')}": "0+1x70"}, at="65m",
             labels={"provider": "deepseek", "model": "deepseek-v9"}, value=60),
        Case({f"llm_unpriced_calls_total{_x(provider='deepseek', model='deepseek-v9')}": "3x70"}, at="65m"),
        for_="5m", thresholds=(T_UNPRICED_CALLS,),
        meaning="The application calls a model missing from the versioned price table (a new or renamed model, "
        "such as the retired `deepseek-chat` alias): its spend is counted as tokens but not in USD. "
        "Informational: shown on the LLM board, not sent.",
        confirm="LLM board 'Unpriced calls'; `llm_price_table_info` for the table version.",
        fix="Add the model (or alias) with its effective-from prices to the price table "
        "(exporters/data/prices.yaml) and restart the exporter.",
    ),
    # ---- capacity
    Alert(
        "CapacityThresholdForecast", "capacity",
        f"predict_linear(capacity_usage[1d], {T_FORECAST_DAYS} * 86400)"
        " > on (instance, job, resource) capacity_threshold"
        " and on (instance, job, resource) capacity_usage < on (instance, job, resource) capacity_threshold"
        " and on (instance, job, resource) capacity_usage offset 1d",
        "warning",
        "A volume is forecast to cross its scaling threshold within 14 days.",
        "{{ $labels.resource }} is forecast to reach {{ $value | humanize }} in 14 days, above its threshold.",
        (CA, "Days until threshold"),
        Case({f"capacity_usage{_x(resource='active_sellers')}": "0+1x150",
              f"capacity_threshold{_x(resource='active_sellers')}": "200x150"}, at="1470m", interval="10m",
             labels={"job": "lookout", "instance": "exporters:9808", "resource": "active_sellers"},
             value=147 + 0.1 * 14 * 1440),
        Case({f"capacity_usage{_x(resource='active_sellers')}": "0+1x150",
              f"capacity_threshold{_x(resource='active_sellers')}": "2164x150"}, at="1470m", interval="10m"),
        for_="5m", thresholds=(T_FORECAST_DAYS,),
        meaning="Needs a day of history (no forecast from a fresh install's ramp). At the last day's growth, "
        "the volume (active sellers > 100, chats per day > 10k, concurrent "
        "users > 1,000) crosses the seed's 'when to scale' threshold within 14 days: plan the scaling now.",
        confirm="Capacity board: the forecast and 'days until threshold' panels.",
        fix="Follow the scaling path: vertical (4 CPU, 8 GB), then a second app server, a separate DB server "
        "(docs/scaling.md).",
    ),
    Alert(
        "CapacityThresholdReached", "capacity", f"resource:capacity_usage:ratio >= {T_CAPACITY_RATIO}", "warning",
        "A volume has reached its scaling threshold.",
        "{{ $labels.resource }} is at {{ $value | humanizePercentage }} of its scaling threshold.",
        (CA, "Usage / threshold"),
        Case({f"capacity_usage{_x(resource='chats_per_day')}": "12000x10",
              f"capacity_threshold{_x(resource='chats_per_day')}": "10000x10"},
             labels={"job": "lookout", "instance": "exporters:9808", "resource": "chats_per_day"}, value=1.2),
        Case({f"capacity_usage{_x(resource='chats_per_day')}": "9999x10",
              f"capacity_threshold{_x(resource='chats_per_day')}": "10000x10"}),
        for_="5m", thresholds=(T_CAPACITY_RATIO,),
        meaning="The seed's limits of one 2 vCPU / 4 GB VPS with 2 workers are reached: expect latency and "
        "saturation.",
        confirm="Capacity board; HTTP RED board (latency), worker pools (busy workers).",
        fix="Scale as planned (docs/scaling.md).",
    ),
    # ---- host, PostgreSQL, Redis of the small VPS
    Alert(
        "HostDown", "host", 'up{job="node"} == 0', "critical",
        "The host's node exporter is unreachable.",
        "Host {{ $labels.instance }} does not answer for 1 minute; alerts that follow from it are muted.",
        (HO, "Host up"),
        Case({f"up{{{NODE}}}": "0x10"}), Case({f"up{{{NODE}}}": "1x10"}), for_="1m",
        meaning="The VPS (or its node exporter) is down: every service on it is down too, so the alerts "
        "that follow are inhibited (same `host`).",
        confirm="`ping`/`ssh` the VPS; the provider's console.",
        fix="Reboot from the provider's console; after boot check `systemctl --failed`.",
    ),
    Alert(
        "HostDiskSpaceLow", "host", f"instance:node_filesystem_avail:ratio < {T_DISK_FREE_WARN}", "warning",
        "A filesystem is running out of space.",
        "{{ $labels.mountpoint }} on {{ $labels.instance }} has {{ $value | humanizePercentage }} free.",
        (HO, "Disk free"),
        Case({f'node_filesystem_avail_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "2e9x10",
              f'node_filesystem_size_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "2e10x10"},
             labels={"job": "node", "instance": "node-exporter:9100", "device": "/dev/vda1", "fstype": "ext4",
                     "mountpoint": "/"}, value=0.1),
        Case({f'node_filesystem_avail_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "3e9x10",
              f'node_filesystem_size_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "2e10x10"}),
        for_="5m", thresholds=(T_DISK_FREE_WARN,),
        meaning="The 20 GB disk fills (logs, PostgreSQL, Prometheus data). At 0% PostgreSQL stops.",
        confirm="`df -h`; `sudo du -xh / --max-depth=2 | sort -h | tail`; `journalctl --disk-usage`.",
        fix="`sudo journalctl --vacuum-size=200M`; rotate nginx/app logs; lower Prometheus retention.",
    ),
    Alert(
        "HostDiskSpaceCritical", "host", f"instance:node_filesystem_avail:ratio < {T_DISK_FREE_CRIT}", "critical",
        "A filesystem is almost full.",
        "{{ $labels.mountpoint }} on {{ $labels.instance }} has only {{ $value | humanizePercentage }} free.",
        (HO, "Disk free"),
        Case({f'node_filesystem_avail_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "5e8x10",
              f'node_filesystem_size_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "2e10x10"},
             labels={"job": "node", "instance": "node-exporter:9100", "device": "/dev/vda1", "fstype": "ext4",
                     "mountpoint": "/"}, value=0.025),
        Case({f'node_filesystem_avail_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "1e9x10",
              f'node_filesystem_size_bytes{{{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"}}': "2e10x10"}),
        for_="2m", thresholds=(T_DISK_FREE_CRIT,),
        meaning="Writes are about to fail: PostgreSQL will refuse transactions, Redis cannot persist.",
        confirm="`df -h`.",
        fix="Free space now (see HostDiskSpaceLow), then plan a bigger disk.",
    ),
    Alert(
        "HostMemoryLow", "host", f"instance:node_memory_available:ratio < {T_MEM_AVAILABLE}", "warning",
        "The host is running out of memory.",
        "{{ $labels.instance }} has {{ $value | humanizePercentage }} of its memory available.",
        (HO, "Memory available"),
        Case({f"node_memory_MemAvailable_bytes{{{NODE}}}": "2e8x10", f"node_memory_MemTotal_bytes{{{NODE}}}": "4e9x10"},
             labels={"job": "node", "instance": "node-exporter:9100"}, value=0.05),
        Case({f"node_memory_MemAvailable_bytes{{{NODE}}}": "4e8x10",
              f"node_memory_MemTotal_bytes{{{NODE}}}": "4e9x10"}),
        for_="5m", thresholds=(T_MEM_AVAILABLE,),
        meaning="Less than 10% of the 4 GB is available: the OOM killer will pick a worker, Redis or PostgreSQL.",
        confirm="`free -m`; `ps aux --sort=-rss | head`; `dmesg -T | grep -i oom`.",
        fix="Lower worker counts or Celery concurrency, set Redis `maxmemory`, or upgrade the VPS (8 GB).",
    ),
    Alert(
        "HostLoadHigh", "host", f"instance:node_load5_per_cpu:ratio > {T_LOAD_PER_CPU}", "warning",
        "The host's CPUs are saturated.",
        "{{ $labels.instance }} has a 5-minute load of {{ $value | humanize }} per vCPU.",
        (HO, "Load per vCPU"),
        Case({f"node_load5{{{NODE}}}": "6x20", f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}': "0+60x20",
              f'node_cpu_seconds_total{{{NODE},cpu="1",mode="idle"}}': "0+60x20"}, at="15m",
             labels={"job": "node", "instance": "node-exporter:9100"}, value=3),
        Case({f"node_load5{{{NODE}}}": "4x20", f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}': "0+60x20",
              f'node_cpu_seconds_total{{{NODE},cpu="1",mode="idle"}}': "0+60x20"}, at="15m"),
        for_="10m", thresholds=(T_LOAD_PER_CPU,),
        meaning="More runnable tasks than 2 vCPU can serve: requests queue, latency grows.",
        confirm="`top`/`htop`; which process uses the CPU; the worker-pool busy panel.",
        fix="Find the hot process; reduce workers on a 2 vCPU box or upgrade (4 CPU).",
    ),
    Alert(
        "RedisDown", "host", "redis_up == 0", "critical",
        "Redis does not answer the exporter.",
        "redis_exporter {{ $labels.instance }} cannot reach Redis for 1 minute: Celery's broker is down.",
        (HO, "Redis up"),
        Case({f"redis_up{{{REDIS}}}": "0x10"}), Case({f"redis_up{{{REDIS}}}": "1x10"}), for_="1m",
        meaning="Redis is the Celery broker, the response cache and the rate limiter: tasks stop, API calls "
        "that use the cache fail.",
        confirm="`systemctl status redis-server`; `redis-cli ping`.",
        fix="Restart Redis after reading its log (OOM? disk full for the RDB?).",
    ),
    Alert(
        "RedisMemoryHigh", "host", f"redis_memory_used_bytes > {T_REDIS_MEMORY}", "warning",
        "Redis uses more than a quarter of the VPS memory.",
        "Redis {{ $labels.instance }} uses {{ $value | humanize1024 }}B.",
        (HO, "Redis memory"),
        Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{2 * GiB}x10"}, value=2 * GiB),
        Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{GiB}x10"}),
        for_="5m", thresholds=(T_REDIS_MEMORY,),
        meaning="On a 4 GB VPS Redis competes with the workers and PostgreSQL: a queue backlog or a cache "
        "without TTLs grows until the OOM killer acts.",
        confirm="`redis-cli info memory | grep used_memory_human`; `redis-cli --bigkeys`.",
        fix="Drain the backlog (Celery board); set TTLs on cache keys; set `maxmemory` with an eviction policy "
        "for the cache database.",
    ),
    Alert(
        "RedisMemoryNearMaxmemory", "host",
        f"redis_memory_used_bytes / (redis_memory_max_bytes > 0) > {T_REDIS_MAXMEMORY_RATIO}", "warning",
        "Redis memory is close to its maxmemory limit.",
        "Redis {{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory.",
        (HO, "Redis memory / maxmemory"),
        Case({f"redis_memory_used_bytes{{{REDIS}}}": "95x10", f"redis_memory_max_bytes{{{REDIS}}}": "100x10"},
             labels={"job": "redis", "instance": "redis-exporter:9121"}, value=0.95),
        Case({f"redis_memory_used_bytes{{{REDIS}}}": "90x10", f"redis_memory_max_bytes{{{REDIS}}}": "100x10"}),
        for_="5m", thresholds=(T_REDIS_MAXMEMORY_RATIO,),
        meaning="At maxmemory Redis evicts keys (cache) or refuses writes (noeviction): Celery can lose or "
        "fail to queue tasks.",
        confirm="`redis-cli info memory`; `redis-cli config get maxmemory-policy`.",
        fix="Raise maxmemory if the host allows, or drain what fills it.",
    ),
    Alert(
        "TlsCertificateExpiringSoon", "host",
        # last_over_time: an expired certificate fails the verifying probe and its expiry series vanishes;
        # the last value keeps this alert firing (TlsProbeFailed says why) instead of resolving at expiry
        f"(last_over_time(probe_ssl_earliest_cert_expiry[1d]) - time()) / 86400 < {T_TLS_DAYS}", "warning",
        "A TLS certificate expires within 14 days.",
        "The certificate of {{ $labels.instance }} expires in {{ $value | humanize }} days.",
        (OV, "TLS certificate expiry (days)"),
        Case({'probe_ssl_earliest_cert_expiry{job="blackbox_tls",instance="demo-chat:8001"}':
              f"{5 * DAY + 600}x3 _x17"}, at="10m", value=5),  # still firing 7 minutes after the series stopped
        Case({'probe_ssl_earliest_cert_expiry{job="blackbox_tls",instance="demo-chat:8001"}': f"{14 * DAY + 600}x20"},
             at="10m"),
        for_="5m", thresholds=(T_TLS_DAYS,),
        meaning="Let's Encrypt renews at 30 days left: 14 days left means certbot's renewal is failing.",
        confirm="`sudo certbot certificates`; `sudo systemctl list-timers | grep certbot`; certbot's log.",
        fix="`sudo certbot renew --dry-run` shows the error (DNS, port 80 blocked by the firewall, nginx config).",
    ),
    Alert(
        "TlsProbeFailed", "host", 'probe_success{job="blackbox_tls"} == 0', "warning",
        "A TLS endpoint fails its handshake or certificate check.",
        "The TLS probe of {{ $labels.instance }} has failed for 15 minutes: expired, untrusted or missing "
        "certificate, or no TLS on the port.",
        (OV, "Health probes"),
        Case({'probe_success{job="blackbox_tls",instance="demo-chat:8001",platform="chatcenter",'
              'service="chat-api"}': "0x20"}, at="20m"),
        Case({'probe_success{job="blackbox_tls",instance="demo-chat:8001",platform="chatcenter",'
              'service="chat-api"}': "1x20"}, at="20m"),
        for_="15m",  # longer than a certificate swap or a reload; the healthy e2e check (3 min) cannot trip it
        meaning="The blackbox exporter verifies the certificate (`insecure_skip_verify: false`): the probe fails "
        "when the certificate expired, does not match the name, is not trusted, or the port speaks no TLS. "
        "Browsers and API clients fail the same way. An expired certificate also removes the expiry series, "
        "so this alert covers what TlsCertificateExpiringSoon can no longer measure.",
        confirm="`openssl s_client -connect HOST:443 -servername HOST </dev/null | openssl x509 -noout -dates "
        "-subject`; the blackbox exporter's `/probe?module=tls_connect&target=HOST:443&debug=true`.",
        fix="Renew (`sudo certbot renew`) and reload nginx; fix the certificate chain or name; check that nginx "
        "listens with TLS on the probed port.",
    ),
    # ---- containers (issue 9)
    Alert(
        "ContainerRestartLoop", "containers",
        f"increase(docker_container_die_events_total[10m]) > {T_CONTAINER_RESTARTS}", "warning",
        "A container keeps exiting and restarting.",
        "Container {{ $labels.name }} exited {{ $value | humanize }} times in 10 minutes.",
        (HO, "Container exits"),
        Case({f"docker_container_die_events_total{CTR}": "0+1x20"}, at="12m", value=10),
        Case({f"docker_container_die_events_total{CTR}": "0+0.19x30"}, at="25m"),
        for_="1m", thresholds=(T_CONTAINER_RESTARTS,),
        meaning="The container's process exits repeatedly and the restart policy brings it back: a crash loop.",
        confirm="`docker logs --tail 100 NAME`; `docker inspect NAME --format '{{ .State }}'`.",
        fix="Fix the crash (config, missing secret, dependency not ready).",
    ),
    Alert(
        "ContainerUnhealthy", "containers",
        f'docker_container_health_status{{status="unhealthy"}} > {T_CONTAINER_TROUBLE}', "warning",
        "A container fails its health check.",
        "Container {{ $labels.name }} has been unhealthy for 3 minutes.",
        (HO, "Containers unhealthy or OOM-killed"),
        Case({f"docker_container_health_status{CTR_UNHEALTHY}": "1x10"}),
        Case({f"docker_container_health_status{CTR_UNHEALTHY}": "0x10"}),
        for_="3m", thresholds=(T_CONTAINER_TROUBLE,),
        meaning="The container runs but its health check fails: dependents with `condition: service_healthy` "
        "will not start.",
        confirm="`docker inspect NAME --format '{{ json .State.Health }}'`.",
        fix="Read the health check's output, fix the service, `docker compose up -d NAME`.",
    ),
    Alert(
        "ContainerOomKilled", "containers",
        f"increase(docker_container_oom_events_total[15m]) > {T_CONTAINER_TROUBLE}", "warning",
        "A container was killed for exceeding its memory limit.",
        "Container {{ $labels.name }} was OOM-killed {{ $value | humanize }} times in 15 minutes.",
        (HO, "Containers unhealthy or OOM-killed"),
        Case({f"docker_container_oom_events_total{CTR}": "0+1x20"}, at="17m", value=15),
        Case({f"docker_container_oom_events_total{CTR}": "5x20"}, at="17m"),
        thresholds=(T_CONTAINER_TROUBLE,),
        meaning="The container's memory limit (sized for a 4 GB VPS) is too small for its load, or it leaks.",
        confirm="`docker inspect NAME --format '{{ .State.OOMKilled }}'`; `docker stats`.",
        fix="Raise the limit in compose.yaml if the host has room, or fix the leak.",
    ),
]


def _availability_series(share: float, total: int = 1000) -> dict[str, str]:
    """Chat API counters with ``share`` of 5xx responses, ``total`` requests a minute (unit tests)."""
    b = round(share * total)
    return {
        'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="200"}':
            f"0+{total - b}x20",
        'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="500"}': f"0+{b}x20",
    }


def _latency_series(share: float, total: int = 1000) -> dict[str, str]:
    """Chat API histogram with ``share`` of requests slower than the SLO threshold (unit tests)."""
    b = 'http_request_duration_seconds_bucket{job="chatcenter_api",path="/api/chats",method="GET",'
    return {
        f'{b}le="{T_SLO_LATENCY}"}}': f"0+{round((1 - share) * total)}x20",
        f'{b}le="+Inf"}}': f"0+{total}x20",
        'http_request_duration_seconds_count{job="chatcenter_api",path="/api/chats",method="GET"}': f"0+{total}x20",
    }


def _burn_alerts() -> list[Alert]:
    out: list[Alert] = []
    for slo in SLOS:
        base = "ChatcenterApi" + slo.name.capitalize()
        for sev, name, pairs in (("critical", base + "BurnPage", BURN_RATES[:2]),
                                 ("warning", base + "BurnTicket", BURN_RATES[2:])):
            parts = [
                f'(slo:sli_error:ratio_rate{lw}{{sloth_id="{slo.id}"}} > {round(f * slo.budget, 6):g}'
                f' and ignoring (sloth_window) slo:sli_error:ratio_rate{sw}{{sloth_id="{slo.id}"}}'
                f" > {round(f * slo.budget, 6):g})"
                for lw, sw, f, _, _ in pairs
            ]
            expr = "\n  or ignoring (sloth_window)\n".join(parts)
            windows = " and ".join(f"{f:g}x over {lw}/{sw}" for lw, sw, f, _, _ in pairs)
            factor = pairs[-1][2]  # the lower factor: the quiet case sits just under it
            bad = round(factor * slo.budget * 0.9, 6)
            series = _availability_series if slo.name == "availability" else _latency_series
            first = pairs[0]
            fire_value = 0.2
            out.append(Alert(
                name, f"slo-{slo.id}", expr, sev,
                f"The chat API burns its {slo.name} error budget too fast.",
                f"{slo.name.capitalize()} SLO of {{{{ $labels.sloth_service }}}}: error ratio "
                f"{{{{ $value | humanizePercentage }}}} burns the {slo.budget:.1%} budget at more than "
                f"{first[2]:g}x or {pairs[1][2]:g}x.",
                (HS, f"SLO {slo.name}: error ratio by window"),
                Case(series(fire_value), at="15m", labels={**slo.labels, "sloth_window": first[0]}, value=fire_value),
                Case(series(bad), at="15m"),
                for_=pairs[0][4],
                meaning=f"{slo.description} Burn rate {windows} "
                "(Google SRE workbook, multi-window multi-burn-rate): "
                + ("at this pace the 30-day budget is gone in hours: page." if sev == "critical"
                   else "the budget erodes steadily: open a ticket."),
                confirm="HTTP RED & SLO board: error ratio per window and remaining budget; for availability "
                "`sudo journalctl -u <app>-chat` for tracebacks; for latency the slow paths panel.",
                fix="Roll back a bad deploy; fix the failing dependency (DB, Redis, LLM provider); for latency "
                "find slow queries or LLM calls in the request path.",
            ))
    return out


def _budget_alerts() -> list[Alert]:
    out: list[Alert] = []
    for slo in SLOS:
        series = _availability_series if slo.name == "availability" else _latency_series

        def long(share: float, series=series) -> dict[str, str]:  # 90 minutes of counters: for_ is 1h
            return {k: v.replace("x20", "x90") for k, v in series(share).items()}

        fire_share = 0.2
        out.append(Alert(
            f"ChatcenterApi{slo.name.capitalize()}BudgetExhausted", f"slo-{slo.id}",
            f'slo:period_error_budget_remaining:ratio{{sloth_id="{slo.id}"}} <= {T_ERROR_BUDGET_LEFT}', "warning",
            f"The chat API has spent its 30-day {slo.name} error budget.",
            f"{slo.name.capitalize()} SLO of {{{{ $labels.sloth_service }}}}: {{{{ $value | humanizePercentage }}}} "
            f"of the 30-day error budget ({slo.budget:.1%} of requests) is left.",
            (HS, "Error budget remaining (30 d)"),
            Case(long(fire_share), at="75m", labels={**slo.labels, "sloth_window": "30d"},
                 value=round(1 - fire_share / slo.budget, 6)),
            Case(long(round(slo.budget * 0.8, 6)), at="75m"),
            for_="1h",  # a 30-day average moves slowly: a ticket, and not from a fresh install's first minutes
            thresholds=(T_ERROR_BUDGET_LEFT,),
            meaning=f"{slo.description} The errors of the last 30 days used up the whole budget: the SLO is "
            "missed for the period. The burn-rate alerts page or ticket while it is being spent; this one says "
            "it is gone.",
            confirm="HTTP RED & SLO board: remaining budget and the error ratio per window.",
            fix="Freeze risky deploys until the budget recovers; fix the causes the burn-rate alerts pointed at.",
        ))
    return out


ALERTS += _burn_alerts()
ALERTS += _budget_alerts()
ALERTS.append(Alert(
    "ChatApiHttp5xxRateHigh", "slo-chatcenter-api-availability",
    f'slo:sli_error:ratio_rate5m{{sloth_id="chatcenter-api-availability"}} > {T_CHAT_5XX_RATIO}', "warning",
    "Too many chat API requests fail with 5xx.",
    "{{ $value | humanizePercentage }} of chat API requests answered 5xx over 5 minutes.",
    (HS, "Error share (5xx)"),
    Case({'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="200"}': "0+90x20",
          'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="500"}': "0+10x20"},
         labels={**SLOS[0].labels, "sloth_window": "5m"}, value=0.1),
    Case({'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="200"}': "0+96x20",
          'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="500"}': "0+4x20"}),
    for_="2m", thresholds=(T_CHAT_5XX_RATIO,),
    meaning="FastAPI raises on a share of requests right now (the burn-rate alerts follow with longer windows).",
    confirm="`sudo journalctl -u <app>-chat -f` for tracebacks; the status-code panel.",
    fix="Roll back or fix the exception; restart the unit if workers are wedged.",
))

# --- inhibition: a down host or master mutes what follows from it ---------------------------------
INHIBITIONS = (
    {"source_matchers": ['alertname="HostDown"'],
     "target_matchers": ['alertname!~"HostDown|Watchdog"'], "equal": ["host"]},
    {"source_matchers": ['alertname="WorkerPoolMasterDown"'],
     "target_matchers": ['alertname!~"WorkerPoolMasterDown|Watchdog"'], "equal": ["service"]},
    {"source_matchers": ['alertname="PostgresDown"'],
     "target_matchers": ['alertname=~"PostgresConnectionsNearMax|ExporterCollectorDown"'], "equal": ["host"]},
    {"source_matchers": ['alertname="RedisDown"'],
     "target_matchers": ['alertname=~"Celery.+|ExporterCollectorDown"'], "equal": ["host"]},
    {"source_matchers": ['alertname="HostDiskSpaceCritical"'],
     "target_matchers": ['alertname="HostDiskSpaceLow"'], "equal": ["instance", "mountpoint"]},
)

# --- the demo's faults and the alert each must raise (end-to-end test of issue 8) -----------------
FAULT_ALERTS: dict[str, FaultExpectation] = {
    "drop-end-webhooks": FaultExpectation("ElevenLabsEndEventsMissing", "ticket", ("CreditsNotCharged",)),
    "wrong-charges": FaultExpectation("CreditsChargeMismatch", "ticket"),
    "kill-gunicorn-worker": FaultExpectation("WorkerPoolRestartLoop", "ticket",
                                             ("WorkerPoolWorkersBelowExpected",)),
    "kill-gunicorn-master": FaultExpectation("WorkerPoolMasterDown", "page",
                                             ("ServiceProbeFailed", "VoiceSiteBadGateway")),
    "kill-uvicorn-worker": FaultExpectation("WorkerPoolRestartLoop", "ticket",
                                            ("WorkerPoolWorkersBelowExpected",)),
    "kill-uvicorn-master": FaultExpectation("WorkerPoolMasterDown", "page", ("ServiceProbeFailed", "TargetDown")),
    "kill-celery-worker": FaultExpectation("CeleryNoLiveWorker", "page",
                                           ("CeleryWorkerDown", "WorkerPoolMasterDown", "CeleryQueueBacklog",
                                            "CeleryTaskWaitingTooLong", "CeleryPeriodicTaskStale")),
    "stop-beat": FaultExpectation("CeleryPeriodicTaskStale", "ticket"),
    "stop-mcp": FaultExpectation("McpServerDown", "page"),
    "marketplace-slow": FaultExpectation("MarketplaceSyncLagging", "ticket", ("CeleryTaskFailureRateHigh",)),
    "marketplace-429": FaultExpectation("MarketplaceSyncLagging", "ticket", ("CeleryTaskFailureRateHigh",)),
    "marketplace-5xx": FaultExpectation("MarketplaceSyncLagging", "ticket", ("CeleryTaskFailureRateHigh",)),
    "sla-unanswered": FaultExpectation("SlaBreached", "page"),
    "llm-spend-spike": FaultExpectation("LlmSpendRateHigh", "ticket", ("LlmSpendOverDailyBudget",
                                                                      "LlmBalanceRunwayShort")),
    "llm-402": FaultExpectation("LlmProviderBalanceUnavailable", "page", ("LlmBalanceRunwayShort",
                                                                         "CeleryTaskFailureRateHigh")),
    "grow-capacity": FaultExpectation("CapacityThresholdReached", "ticket", ("CapacityThresholdForecast",)),
    "api-errors": FaultExpectation("ChatApiHttp5xxRateHigh", "ticket", ("ChatcenterApiAvailabilityBurnPage",
                                                                       "ChatcenterApiAvailabilityBurnTicket")),
    "api-slow": FaultExpectation("ChatcenterApiLatencyBurnPage", "page", ("ChatcenterApiLatencyBurnTicket",)),
    "hold-db-connections": FaultExpectation("PostgresConnectionsNearMax", "ticket"),
}
RECEIVER_OF_SEVERITY = {"critical": "page", "warning": "ticket", "info": "blackhole"}
HEARTBEAT_RECEIVER = "heartbeat"
ALERTS_BY_NAME: dict[str, Alert] = {a.name: a for a in ALERTS}

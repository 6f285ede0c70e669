"""The platforms' facts from the seeds and where things live (moving to the site file, issue 12)."""

from __future__ import annotations

from dataclasses import dataclass

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
DAY = 86400

"""Status overview per platform: is it up, is it serving, is money leaking, and is monitoring itself up."""

from dashboards._lib import board, stat, timeseries
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

P = 'platform=~"$platform"'
DASHBOARD = board(
    uids.OVERVIEW, "Lookout / Status overview",
    "Both platforms at a glance: health probes, request errors, money leaks, firing alerts.",
    [
        stat("Health probes", "1 when the blackbox exporter gets a 2xx from the service's /health "
             "(voice API 5002, MCP tool server 5556, chat API 8001), and when the TLS probe's handshake and "
             "certificate check pass.",
             [(f'probe_success{{job="blackbox_http",{P}}}', "{{service}}"),
              (f'probe_success{{job="blackbox_tls",{P}}}', "{{service}} TLS")], "bool", w=8),
        stat("Scrape targets up", "1 when every target of the job answers Prometheus (0 fires TargetDown); a "
             "missing job fires TargetAbsent.",
             [(f"min by (job) (up{{{P}}})", "{{job}}")], "bool", w=8),
        stat("Collectors up", "lookout exporter collectors whose last refresh succeeded (exporter_collector_up).",
             [("exporter_collector_up", "{{collector}}")], "bool", w=8),
        timeseries("Voice: 502 responses", "502 Bad Gateway per second from nginx: Gunicorn down or unreachable "
                   "(playbook incident 1).",
                   [(f'sum by (service) (rate(nginx_http_response_count_total{{status="502",{P}}}[$__rate_interval]))',
                     "{{service}}")], "reqps", [t.T_VOICE_502_RATE], w=8),
        timeseries("Voice: 5xx share", "Share of voice platform responses with a 5xx status (playbook incident 2).",
                   [(f'sum by (service) (rate(nginx_http_response_count_total{{status=~"5..",{P}}}[$__rate_interval]))'
                     f" / sum by (service) (rate(nginx_http_response_count_total{{{P}}}[$__rate_interval]))",
                     "{{service}}")], "percentunit", [t.T_VOICE_5XX_RATIO], w=8),
        timeseries("Chat API: 5xx share", "Share of chat API requests answered 5xx over 5 minutes (SLI of the "
                   "availability SLO).",
                   [('slo:sli_error:ratio_rate5m{sloth_id="chatcenter-api-availability"}', "5xx share")],
                   "percentunit", [t.T_CHAT_5XX_RATIO], w=8),
        stat("Money leaking: unreconciled seconds", "Seconds (= credits, 1 credit = 1 second) of voice "
             "conversations not charged or charged wrong in the look-back window.",
             [("sum by (reason) (credits_unreconciled_seconds)", "{{reason}}")], "s", [t.T_CREDITS_UNRECONCILED],
             w=8),
        stat("Money leaking: LLM spend over 24 h", "USD spent on LLM tokens over the last day, per provider.",
             [("provider:llm_spend_usd:increase1d", "{{provider}}")], "currencyUSD", [t.T_LLM_DAILY_BUDGET], w=8),
        stat("TLS certificate expiry (days)", "Days until the earliest certificate of each TLS probe expires.",
             [(f'(probe_ssl_earliest_cert_expiry{{job="blackbox_tls",{P}}} - time()) / 86400', "{{instance}}")], "d",
             [t.T_TLS_DAYS], w=8),
        timeseries("Serving: requests per second", "Is it serving: voice requests through nginx and chat API "
                   "requests (health and metrics excluded), per second.",
                   [(f"sum by (platform) (rate(nginx_http_response_count_total{{{P}}}[$__rate_interval]))",
                     "{{platform}}"),
                    (f'sum by (platform) (rate(http_requests_total{{job="chatcenter_api",{P},'
                     'path!~"/api/(health|metrics)"}[$__rate_interval]))', "{{platform}}")], "reqps", w=12),
        timeseries("Firing alerts", "Alerts firing now, by severity (Watchdog is always 1 info).",
                   [('sum by (severity) (ALERTS{alertstate="firing"})', "{{severity}}")], "short", w=12),
    ],
    ("platform", "Platform", "label_values(up, platform)"),
)

"""Status overview per platform: is it up, is it serving, is money leaking, and is monitoring itself up."""

from lookout.dashboards._lib import Board, board, stat, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.slos import selector, slos

P = 'platform=~"$platform"'


def build(k: Ctx) -> Board | None:
    t = k.t
    probed = ", ".join(f"{s.name} {s.port}" if s.port else s.name for s in k.site.services if s.health_url)
    availability = [s for s in slos(k) if s.name == "availability"]
    serving = []
    if k.has("nginx"):
        serving.append((f"sum by (platform) (rate(nginx_http_response_count_total{{{P}}}[$__rate_interval]))",
                        "{{platform}}"))
    serving += [(f"sum by (platform) (rate(http_requests_total{{{selector(s, P)}}}[$__rate_interval]))",
                 "{{platform}}") for s in availability]
    return board(
        k,
        uids.OVERVIEW, "Lookout / Status overview",
        "Every platform at a glance: health probes, request errors, money leaks, firing alerts.",
        [
            stat("Health probes", "1 when the blackbox exporter gets a 2xx from the service's health URL"
                 + (f" ({probed})" if probed else "") + ", and when the TLS probe's handshake and certificate "
                 "check pass.",
                 [(f'probe_success{{job="blackbox_http",{P}}}', "{{service}}"),
                  (f'probe_success{{job="blackbox_tls",{P}}}', "{{service}} TLS")], "bool", w=8,
                 requires=("probes|tls",)),
            stat("Scrape targets up", "1 when every target of the job answers Prometheus (0 fires TargetDown); a "
                 "missing job fires TargetAbsent.",
                 [(f"min by (job) (up{{{P}}})", "{{job}}")], "bool", w=8),
            stat("Collectors up", "lookout exporter collectors whose last refresh succeeded (lookout_collector_up).",
                 [("lookout_collector_up", "{{collector}}")], "bool", w=8),
            timeseries("Voice: 502 responses", "502 Bad Gateway per second from nginx: Gunicorn down or unreachable "
                       "(playbook incident 1).",
                       [(f'sum by (service) (rate(nginx_http_response_count_total{{status="502",{P}}}'
                         '[$__rate_interval]))', "{{service}}")], "reqps", [t.voice_502_rate], w=8,
                       requires=("nginx",)),
            timeseries("Voice: 5xx share", "Share of responses behind nginx with a 5xx status (playbook incident 2).",
                       [(f'sum by (service) (rate(nginx_http_response_count_total{{status=~"5..",{P}}}'
                         '[$__rate_interval]))'
                         f" / sum by (service) (rate(nginx_http_response_count_total{{{P}}}[$__rate_interval]))",
                         "{{service}}")], "percentunit", [t.voice_5xx_ratio], w=8, requires=("nginx",)),
            timeseries("API: 5xx share", "Share of API requests answered 5xx over 5 minutes (SLI of the "
                       "availability SLO).",
                       [(f'slo:sli_error:ratio_rate5m{{sloth_id="{s.id}"}}', f"{s.service} 5xx share")
                        for s in availability],
                       "percentunit", [t.chat_5xx_ratio], w=8, requires=("slo_availability",)),
            stat("Money leaking: unreconciled seconds", "Seconds (= credits, 1 credit = 1 second) of voice "
                 "conversations not charged or charged wrong in the look-back window.",
                 [("sum by (reason) (lookout_credits_unreconciled_seconds)", "{{reason}}")], "s",
                 [t.credits_unreconciled],
                 w=8, requires=("credits",)),
            stat("Money leaking: LLM spend over 24 h", "USD spent on LLM tokens over the last day, per provider.",
                 [("provider:lookout_llm_spend_usd:increase1d", "{{provider}}")], "currencyUSD",
                 [t.llm_daily_budget_usd],
                 w=8, requires=("llm_spend",)),
            stat("TLS certificate expiry (days)", "Days until the earliest certificate of each TLS probe expires.",
                 [(f'(probe_ssl_earliest_cert_expiry{{job="blackbox_tls",{P}}} - time()) / 86400', "{{instance}}")],
                 "d", [t.tls_expiry_days], w=8, requires=("tls",)),
            timeseries("Serving: requests per second", "Is it serving: requests through nginx and API requests "
                       "(health and metrics excluded), per second.", serving, "reqps", w=12,
                       requires=("nginx|slo_availability",)),
            timeseries("Firing alerts", "Alerts firing now, by severity (Watchdog is always 1 info).",
                       [('sum by (severity) (ALERTS{alertstate="firing"})', "{{severity}}")], "short", w=12),
        ],
        ("platform", "Platform", "label_values(up, platform)"),
    )

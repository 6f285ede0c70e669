"""HTTP RED of the chat-center API and its SLOs (availability, latency) with burn-rate windows."""

from dashboards._lib import board, timeseries
from monitoring import catalog as c
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids
from monitoring.model import Threshold

SEL = 'job="chatcenter_api",instance=~"$instance",path!~"/api/(health|metrics)"'


def _burn_lines(slo) -> list[Threshold]:
    return [Threshold(f"{slo.id}-{f:g}x", round(f * slo.budget, 6), "percentunit", f"{f:g}x burn",
                      "red" if sev == "critical" else "orange") for _, _, f, sev, _ in c.BURN_RATES]


def _slo_panel(slo):
    return timeseries(
        f"SLO {slo.name}: error ratio by window", f"{slo.description} Error ratio over each window of the "
        "multi-window multi-burn-rate alerts, with the burn-rate lines (14.4x, 6x, 3x, 1x the budget).",
        [(f'slo:sli_error:ratio_rate{w}{{sloth_id="{slo.id}"}}', w) for w in c.SLO_WINDOWS], "percentunit",
        _burn_lines(slo),
    )


DASHBOARD = board(
    uids.HTTP_SLO, "Lookout / Chat API: HTTP RED and SLOs",
    "Rate, errors and duration of the chat-center API (/api/metrics), and its SLOs.",
    [
        timeseries("Requests per second", "Requests per second by path (health and metrics excluded).",
                   [(f"sum by (path) (rate(http_requests_total{{{SEL}}}[$__rate_interval]))", "{{path}}")], "reqps",
                   w=8),
        timeseries("Error share (5xx)", "Share of requests answered 5xx.",
                   [(f'sum(rate(http_requests_total{{{SEL},status_code=~"5.."}}[$__rate_interval]))'
                     f" / sum(rate(http_requests_total{{{SEL}}}[$__rate_interval]))", "5xx share")], "percentunit",
                   [t.T_CHAT_5XX_RATIO], w=8),
        timeseries("Latency p50/p95/p99", "Request duration quantiles from the histogram.",
                   [(f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{SEL}}}"
                     "[$__rate_interval])))", f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)], "s",
                   [t.T_SLO_LATENCY], w=8),
        _slo_panel(c.SLOS[0]),
        _slo_panel(c.SLOS[1]),
        timeseries("Error budget remaining (30 d)", "Share of the 30-day error budget left, per SLO.",
                   [("slo:period_error_budget_remaining:ratio", "{{sloth_slo}}")], "percentunit",
                   [t.T_ERROR_BUDGET_LEFT], min0=False, w=24),
    ],
    ("instance", "Instance", 'label_values(up{job="chatcenter_api"}, instance)'),
)

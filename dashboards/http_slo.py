"""HTTP RED of the platforms' APIs (their own metrics endpoint) and their SLOs with burn-rate windows."""

from lookout.dashboards._lib import Board, Panel, board, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.slos import BURN_RATES, SLO_WINDOWS, selector, slos
from lookout.monitoring.model import Slo, Threshold


def _burn_lines(slo: Slo) -> list[Threshold]:
    return [Threshold(f"{slo.id}-{f:g}x", round(f * slo.budget, 6), "percentunit", f"{f:g}x burn",
                      "red" if sev == "critical" else "orange") for _, _, f, sev, _ in BURN_RATES]


def _slo_panel(slo: Slo) -> Panel:
    return timeseries(
        f"SLO {slo.name}: error ratio by window", f"{slo.description} Error ratio over each window of the "
        "multi-window multi-burn-rate alerts, with the burn-rate lines (14.4x, 6x, 3x, 1x the budget).",
        [(f'slo:sli_error:ratio_rate{w}{{sloth_id="{slo.id}"}}', w) for w in SLO_WINDOWS], "percentunit",
        _burn_lines(slo),
    )


def build(k: Ctx) -> Board | None:
    all_slos = slos(k)
    if not all_slos:
        return None
    t = k.t
    first = all_slos[0]
    sel = selector(first, 'instance=~"$instance"')
    days = first.days
    return board(
        k,
        uids.HTTP_SLO, f"Lookout / {first.service}: HTTP RED and SLOs",
        f"Rate, errors and duration of {first.service} (its own metrics, job {first.job}), and its SLOs.",
        [
            timeseries("Requests per second", "Requests per second by path (health and metrics excluded).",
                       [(f"sum by (path) (rate(http_requests_total{{{sel}}}[$__rate_interval]))", "{{path}}")],
                       "reqps", w=8),
            timeseries("Error share (5xx)", "Share of requests answered 5xx.",
                       [(f'sum(rate(http_requests_total{{{sel},status_code=~"5.."}}[$__rate_interval]))'
                         f" / sum(rate(http_requests_total{{{sel}}}[$__rate_interval]))", "5xx share")],
                       "percentunit", [t.chat_5xx_ratio], w=8),
            timeseries("Latency p50/p95/p99", "Request duration quantiles from the histogram.",
                       [(f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}"
                         "[$__rate_interval])))", f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)], "s",
                       [t.slo_latency_seconds], w=8),
            *[_slo_panel(s) for s in all_slos],
            timeseries(f"Error budget remaining ({days} d)", f"Share of the {days}-day error budget left, per SLO.",
                       [("slo:period_error_budget_remaining:ratio", "{{sloth_slo}}")], "percentunit",
                       [t.error_budget_remaining], min0=False, w=24),
        ],
        ("instance", "Instance", f'label_values(up{{job="{first.job}"}}, instance)'),
    )

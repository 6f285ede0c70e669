"""SLOs (Sloth naming), their recording rules and their multi-window multi-burn-rate alerts."""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.thresholds import T_CHAT_5XX_RATIO, T_ERROR_BUDGET_LEFT, T_SLO_LATENCY
from monitoring.model import Alert, Case, Recording, Slo, above, at_most

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
                record=f"slo:sli_error:ratio_rate{w}", group=group, expr=slo.error_expr.replace("{window}", w),
                test=Case(
                    series, at="10m", samples=((f'slo:sli_error:ratio_rate{w}{{{lab},sloth_window="{w}"}}', 0.1),)),
                labels={**slo.labels, "sloth_window": w},
            ))
        out.append(Recording(
            record="slo:sli_error:ratio_rate30d", group=group,
            expr=f'sum_over_time(slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}}[30d])'
            f' / ignoring (sloth_window) count_over_time(slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}}[30d])',
            test=Case(series, at="10m", samples=((f'slo:sli_error:ratio_rate30d{{{lab},sloth_window="30d"}}', 0.1),)),
            labels={**slo.labels, "sloth_window": "30d"},
        ))
        out.append(Recording(
            record="slo:objective:ratio", group=group, expr=f"vector({slo.objective:g})",
            test=Case({}, at="1m", samples=((f"slo:objective:ratio{{{lab}}}", slo.objective),)), labels=slo.labels,
        ))
        out.append(Recording(
            record="slo:error_budget:ratio", group=group, expr=f"vector({slo.budget:g})",
            test=Case({}, at="1m", samples=((f"slo:error_budget:ratio{{{lab}}}", slo.budget),)), labels=slo.labels,
        ))
        out.append(Recording(
            record="slo:current_burn_rate:ratio", group=group,
            expr=f'slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}} / on (sloth_id, sloth_slo, sloth_service)'
            f' group_left slo:error_budget:ratio{{sloth_id="{slo.id}"}}',
            test=Case(series, at="10m", samples=((f'slo:current_burn_rate:ratio{{{lab},sloth_window="5m"}}',
                                                  round(0.1 / slo.budget, 6)),)),
            labels=slo.labels,
        ))
        out.append(Recording(
            record="slo:period_error_budget_remaining:ratio", group=group,
            expr=f'1 - slo:sli_error:ratio_rate30d{{sloth_id="{slo.id}"}} / on (sloth_id, sloth_slo, sloth_service)'
            f' group_left slo:error_budget:ratio{{sloth_id="{slo.id}"}}',
            test=Case(
                series, at="10m", samples=((f'slo:period_error_budget_remaining:ratio{{{lab},sloth_window="30d"}}',
                                                  round(1 - 0.1 / slo.budget, 6)),)),
            labels=slo.labels,
        ))
    return out



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
                name=name, group=f"slo-{slo.id}", expr=expr, severity=sev,
                summary=f"The chat API burns its {slo.name} error budget too fast.",
                description=f"{slo.name.capitalize()} SLO of {{{{ $labels.sloth_service }}}}: error ratio "
                f"{{{{ $value | humanizePercentage }}}} burns the {slo.budget:.1%} budget at more than "
                f"{first[2]:g}x or {pairs[1][2]:g}x.",
                panel=(uids.HTTP_SLO, f"SLO {slo.name}: error ratio by window"),
                fire=Case(series(fire_value), at="15m", labels={**slo.labels, "sloth_window": first[0]},
                          value=fire_value),
                quiet=Case(series(bad), at="15m"),
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
            name=f"ChatcenterApi{slo.name.capitalize()}BudgetExhausted", group=f"slo-{slo.id}",
            expr=at_most(f'slo:period_error_budget_remaining:ratio{{sloth_id="{slo.id}"}}', T_ERROR_BUDGET_LEFT),
            severity="warning",
            summary=f"The chat API has spent its 30-day {slo.name} error budget.",
            description=f"{slo.name.capitalize()} SLO of {{{{ $labels.sloth_service }}}}: "
            f"{{{{ $value | humanizePercentage }}}} "
            f"of the 30-day error budget ({slo.budget:.1%} of requests) is left.",
            panel=(uids.HTTP_SLO, "Error budget remaining (30 d)"),
            fire=Case(long(fire_share), at="75m", labels={**slo.labels, "sloth_window": "30d"},
                      value=round(1 - fire_share / slo.budget, 6)),
            quiet=Case(long(round(slo.budget * 0.8, 6)), at="75m"),
            for_="1h",  # a 30-day average moves slowly: a ticket, and not from a fresh install's first minutes
            meaning=f"{slo.description} The errors of the last 30 days used up the whole budget: the SLO is "
            "missed for the period. The burn-rate alerts page or ticket while it is being spent; this one says "
            "it is gone.",
            confirm="HTTP RED & SLO board: remaining budget and the error ratio per window.",
            fix="Freeze risky deploys until the budget recovers; fix the causes the burn-rate alerts pointed at.",
        ))
    return out


RECORDINGS: list[Recording] = _slo_recordings()
ALERTS: list[Alert] = [*_burn_alerts(), *_budget_alerts(), Alert(
    name="ChatApiHttp5xxRateHigh", group="slo-chatcenter-api-availability",
    expr=above('slo:sli_error:ratio_rate5m{sloth_id="chatcenter-api-availability"}', T_CHAT_5XX_RATIO),
    severity="warning",
    summary="Too many chat API requests fail with 5xx.",
    description="{{ $value | humanizePercentage }} of chat API requests answered 5xx over 5 minutes.",
    panel=(uids.HTTP_SLO, "Error share (5xx)"),
    fire=Case({'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="200"}': "0+90x20",
          'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="500"}': "0+10x20"},
              labels={**SLOS[0].labels, "sloth_window": "5m"}, value=0.1),
    quiet=Case({'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="200"}': "0+96x20",
          'http_requests_total{job="chatcenter_api",path="/api/chats",method="GET",status_code="500"}': "0+4x20"}),
    for_="2m",
    meaning="FastAPI raises on a share of requests right now (the burn-rate alerts follow with longer windows).",
    confirm="`sudo journalctl -u <app>-chat -f` for tracebacks; the status-code panel.",
    fix="Roll back or fix the exception; restart the unit if workers are wedged.",
)]

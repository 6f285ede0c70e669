"""SLOs (Sloth naming), their recording rules and their multi-window multi-burn-rate alerts.

Reads: the site (``Ctx``): each platform whose service has ``metrics.slo`` gets its availability and latency
SLOs on the app's own ``http_requests_total`` / ``http_request_duration_seconds``, with the site's
objectives, window, excluded paths and latency bound. Publishes ``slos(k)``, ``recordings(k)``,
``alerts(k)`` and the Google SRE workbook's ``SLO_WINDOWS`` and ``BURN_RATES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx, camel
from lookout.monitoring.catalog.scrape import app_job
from lookout.monitoring.model import Alert, Case, Recording, Slo, above, at_most

SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (long window, short window, burn-rate factor, severity, for)
BURN_RATES = (("1h", "5m", 14.4, "critical", "2m"), ("6h", "30m", 6, "critical", "2m"),
              ("1d", "2h", 3, "warning", "5m"), ("3d", "6h", 1, "warning", "5m"))
TEST_PATH = "/api/chats"  # the path of the unit tests' good and bad requests


def _paths_regex(paths: tuple[str, ...]) -> str:
    """``("/api/health", "/api/metrics")`` -> ``/api/(health|metrics)``: one anchored alternation."""
    if not paths:
        return ""
    prefix = paths[0][: paths[0].rfind("/") + 1]  # the first path's directory, when every path shares it
    if not all(p.startswith(prefix) for p in paths):
        prefix = ""
    rest = [re.escape(p[len(prefix):]) for p in paths]
    return re.escape(prefix) + ("(" + "|".join(rest) + ")" if len(rest) > 1 else rest[0])


def selector(slo: Slo, *extra: str) -> str:
    """Label matchers of the SLO's requests: its job, ``extra``, and the excluded paths."""
    paths = _paths_regex(slo.excluded)
    return ",".join([f'job="{slo.job}"', *extra] + ([f'path!~"{paths}"'] if paths else []))


def _pct(share: float) -> str:
    return f"{share * 100:g}%"


def slos(k: Ctx) -> list[Slo]:
    out: list[Slo] = []
    seen: set[str] = set()
    for s in k.site.services:
        if not (s.metrics and s.metrics.slo) or s.platform in seen:
            continue
        seen.add(s.platform)
        conf, job, service = s.metrics.slo, app_job(s.platform), f"{s.platform}-api"
        sel = selector(Slo(service, "", 0.5, "", "", job=job, excluded=conf.exclude_paths))
        excluded = f" ({', '.join(conf.exclude_paths)} excluded)" if conf.exclude_paths else ""
        if conf.availability:
            days = round(conf.availability.window / 86400)
            out.append(Slo(
                service, "availability", conf.availability.objective,
                f'1 - (sum by (host) (rate(http_requests_total{{{sel},status_code!~"5.."}}[{{window}}]))'
                f" / sum by (host) (rate(http_requests_total{{{sel}}}[{{window}}])))",
                f"Share of {service} requests{excluded} answered without a 5xx: "
                f"{_pct(conf.availability.objective)} over {days} days.",
                job=job, excluded=conf.exclude_paths, days=days,
            ))
        if conf.latency:
            days = round(conf.latency.window / 86400)
            t = k.t.slo_latency_seconds
            out.append(Slo(
                service, "latency", conf.latency.objective,
                f'1 - (sum by (host) (rate(http_request_duration_seconds_bucket{{{sel},le="{t}"}}[{{window}}]))'
                f" / sum by (host) (rate(http_request_duration_seconds_count{{{sel}}}[{{window}}])))",
                f"Share of {service} requests served within {t} s: {_pct(conf.latency.objective)} over "
                f"{days} days.",
                thresholds=(t,), job=job, excluded=conf.exclude_paths, days=days,
            ))
    return out


def _availability_series(slo: Slo, share: float, total: int = 1000) -> dict[str, str]:
    """API counters with ``share`` of 5xx responses, ``total`` requests a minute (unit tests)."""
    b = round(share * total)
    base = f'http_requests_total{{job="{slo.job}",path="{TEST_PATH}",method="GET"'
    return {f'{base},status_code="200"}}': f"0+{total - b}x20", f'{base},status_code="500"}}': f"0+{b}x20"}


def _latency_series(slo: Slo, share: float, total: int = 1000) -> dict[str, str]:
    """API histogram with ``share`` of requests slower than the SLO threshold (unit tests)."""
    b = f'http_request_duration_seconds_bucket{{job="{slo.job}",path="{TEST_PATH}",method="GET",'
    return {
        f'{b}le="{slo.thresholds[0]}"}}': f"0+{round((1 - share) * total)}x20",
        f'{b}le="+Inf"}}': f"0+{total}x20",
        f'http_request_duration_seconds_count{{job="{slo.job}",path="{TEST_PATH}",method="GET"}}': f"0+{total}x20",
    }


def _series(slo: Slo) -> Callable[..., dict[str, str]]:
    return _availability_series if slo.name == "availability" else _latency_series


def _requires(slo: Slo) -> tuple[str, ...]:
    return (f"slo_{slo.name}",)


def recordings(k: Ctx) -> list[Recording]:
    out: list[Recording] = []
    for slo in slos(k):
        group, req = f"slo-{slo.id}", _requires(slo)
        series = _series(slo)(slo, 0.1)  # per minute: 10% bad events
        if slo.name == "availability" and slo.excluded:
            series[f'http_requests_total{{job="{slo.job}",path="{slo.excluded[0]}",method="GET",'
                   'status_code="500"}'] = "0+5000x20"
        lab = ",".join(f'{k}="{v}"' for k, v in slo.labels.items())
        period = f"{slo.days}d"
        for w in SLO_WINDOWS:
            out.append(Recording(
                record=f"slo:sli_error:ratio_rate{w}", group=group, expr=slo.error_expr.replace("{window}", w),
                test=Case(series, at="10m",
                          samples=((f'slo:sli_error:ratio_rate{w}{{{lab},sloth_window="{w}"}}', 0.1),)),
                labels={**slo.labels, "sloth_window": w}, requires=req,
            ))
        out.append(Recording(
            record=f"slo:sli_error:ratio_rate{period}", group=group,
            expr=f'sum_over_time(slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}}[{period}])'
            f' / ignoring (sloth_window) count_over_time(slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}}'
            f"[{period}])",
            test=Case(series, at="10m",
                      samples=((f'slo:sli_error:ratio_rate{period}{{{lab},sloth_window="{period}"}}', 0.1),)),
            labels={**slo.labels, "sloth_window": period}, requires=req,
        ))
        out.append(Recording(
            record="slo:objective:ratio", group=group, expr=f"vector({slo.objective:g})",
            test=Case({}, at="1m", samples=((f"slo:objective:ratio{{{lab}}}", slo.objective),)), labels=slo.labels,
            requires=req,
        ))
        out.append(Recording(
            record="slo:error_budget:ratio", group=group, expr=f"vector({slo.budget:g})",
            test=Case({}, at="1m", samples=((f"slo:error_budget:ratio{{{lab}}}", slo.budget),)), labels=slo.labels,
            requires=req,
        ))
        out.append(Recording(
            record="slo:current_burn_rate:ratio", group=group,
            expr=f'slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}} / on (sloth_id, sloth_slo, sloth_service)'
            f' group_left slo:error_budget:ratio{{sloth_id="{slo.id}"}}',
            test=Case(series, at="10m", samples=((f'slo:current_burn_rate:ratio{{{lab},sloth_window="5m"}}',
                                                  round(0.1 / slo.budget, 6)),)),
            labels=slo.labels, requires=req,
        ))
        out.append(Recording(
            record="slo:period_error_budget_remaining:ratio", group=group,
            expr=f'1 - slo:sli_error:ratio_rate{period}{{sloth_id="{slo.id}"}} / on (sloth_id, sloth_slo, '
            f'sloth_service) group_left slo:error_budget:ratio{{sloth_id="{slo.id}"}}',
            test=Case(series, at="10m",
                      samples=((f'slo:period_error_budget_remaining:ratio{{{lab},sloth_window="{period}"}}',
                                round(1 - 0.1 / slo.budget, 6)),)),
            labels=slo.labels, requires=req,
        ))
    return out


def _burn_alerts(k: Ctx, slo: Slo) -> list[Alert]:
    out: list[Alert] = []
    base = camel(slo.service) + slo.name.capitalize()
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
        series = _series(slo)
        first = pairs[0]
        fire_value = 0.2
        unit = k.unit("uvicorn", "gunicorn")
        out.append(Alert(
            name=name, group=f"slo-{slo.id}", expr=expr, severity=sev, requires=_requires(slo),
            summary=f"{slo.service} burns its {slo.name} error budget too fast.",
            description=f"{slo.name.capitalize()} SLO of {{{{ $labels.sloth_service }}}}: error ratio "
            f"{{{{ $value | humanizePercentage }}}} burns the {slo.budget:.1%} budget at more than "
            f"{first[2]:g}x or {pairs[1][2]:g}x.",
            panel=(uids.HTTP_SLO, f"SLO {slo.name}: error ratio by window"),
            value=v.ratio("of requests in error"),
            fire=Case(series(slo, fire_value), at="15m", labels={**slo.labels, "sloth_window": first[0]},
                      value=fire_value),
            quiet=Case(series(slo, bad), at="15m"),
            for_=pairs[0][4],
            meaning=f"{slo.description} Burn rate {windows} "
            "(Google SRE workbook, multi-window multi-burn-rate): "
            + (f"at this pace the {slo.days}-day budget is gone in hours: page." if sev == "critical"
               else "the budget erodes steadily: open a ticket."),
            confirm="HTTP RED & SLO board: error ratio per window and remaining budget; for availability "
            f"`sudo journalctl -u {unit}` for tracebacks; for latency the slow paths panel.",
            fix="Roll back a bad deploy; fix the failing dependency (DB, Redis, LLM provider); for latency "
            "find slow queries or LLM calls in the request path.",
        ))
    return out


def _budget_alert(k: Ctx, slo: Slo) -> Alert:
    def long(share: float) -> dict[str, str]:  # 90 minutes of counters: for_ is 1h
        return {key: v.replace("x20", "x90") for key, v in _series(slo)(slo, share).items()}

    fire_share = 0.2
    return Alert(
        name=f"{camel(slo.service)}{slo.name.capitalize()}BudgetExhausted", group=f"slo-{slo.id}",
        expr=at_most(f'slo:period_error_budget_remaining:ratio{{sloth_id="{slo.id}"}}', k.t.error_budget_remaining),
        severity="warning", requires=_requires(slo),
        summary=f"{slo.service} has spent its {slo.days}-day {slo.name} error budget.",
        description=f"{slo.name.capitalize()} SLO of {{{{ $labels.sloth_service }}}}: "
        f"{{{{ $value | humanizePercentage }}}} "
        f"of the {slo.days}-day error budget ({slo.budget:.1%} of requests) is left.",
        panel=(uids.HTTP_SLO, f"Error budget remaining ({slo.days} d)"),
        value=v.ratio("of the error budget left"),
        fire=Case(long(fire_share), at="75m", labels={**slo.labels, "sloth_window": f"{slo.days}d"},
                  value=round(1 - fire_share / slo.budget, 6)),
        quiet=Case(long(round(slo.budget * 0.8, 6)), at="75m"),
        for_="1h",  # a 30-day average moves slowly: a ticket, and not from a fresh install's first minutes
        meaning=f"{slo.description} The errors of the last {slo.days} days used up the whole budget: the SLO is "
        "missed for the period. The burn-rate alerts page or ticket while it is being spent; this one says "
        "it is gone.",
        confirm="HTTP RED & SLO board: remaining budget and the error ratio per window.",
        fix="Freeze risky deploys until the budget recovers; fix the causes the burn-rate alerts pointed at.",
    )


def _http_5xx_alert(k: Ctx, slo: Slo) -> Alert:
    service = next(s for s in k.site.services if s.metrics and app_job(s.platform) == slo.job)
    unit = service.unit or "<unit>"
    return Alert(
        name=f"{camel(service.name)}Http5xxRateHigh", group=f"slo-{slo.id}",
        expr=above(f'slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}"}}', k.t.chat_5xx_ratio),
        severity="warning", requires=_requires(slo),
        summary=f"Too many {service.name} requests fail with 5xx.",
        description=f"{{{{ $value | humanizePercentage }}}} of {service.name} requests answered 5xx over 5 minutes.",
        panel=(uids.HTTP_SLO, "Error share (5xx)"),
        value=v.ratio("of requests answered 5xx"),
        fire=Case(_availability_series(slo, 0.1, 100), labels={**slo.labels, "sloth_window": "5m"}, value=0.1),
        quiet=Case(_availability_series(slo, 0.04, 100)),
        for_="2m",
        meaning="The app raises on a share of requests right now (the burn-rate alerts follow with longer windows).",
        confirm=f"`sudo journalctl -u {unit} -f` for tracebacks; the status-code panel.",
        fix="Roll back or fix the exception; restart the unit if workers are wedged.",
    )


def alerts(k: Ctx) -> list[Alert]:
    all_slos = slos(k)
    out = [a for slo in all_slos for a in _burn_alerts(k, slo)]
    out += [_budget_alert(k, slo) for slo in all_slos]
    out += [_http_5xx_alert(k, slo) for slo in all_slos if slo.name == "availability"]
    return out

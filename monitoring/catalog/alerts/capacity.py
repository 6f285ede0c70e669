"""Capacity planning: volumes against the scaling thresholds, and their forecast.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import X, _x, num
from lookout.monitoring.catalog.thresholds import capacity_key
from lookout.monitoring.model import Alert, Case, Expr, Recording, promql


def recordings(k: Ctx) -> list[Recording]:
    return [
        Recording(
            record="resource:lookout_capacity_usage:ratio",
            requires=("capacity",),
            group="capacity",
            expr="lookout_capacity_usage / on (instance, job, resource) lookout_capacity_threshold",
            test=Case({f'lookout_capacity_usage{{{X},resource="active_sellers"}}': "50x10",
                  f'lookout_capacity_threshold{{{X},resource="active_sellers"}}': "100x10"},
                 samples=((f'resource:lookout_capacity_usage:ratio{{{X},resource="active_sellers"}}', 0.5),)),
        ),
        Recording(
            record="resource:lookout_capacity_days_until_threshold:days",
            requires=("capacity",),
            group="capacity",
            expr="(lookout_capacity_threshold - on (instance, job, resource) lookout_capacity_usage)"
            " / on (instance, job, resource) (deriv(lookout_capacity_usage[1d]) * 86400) > 0",
            test=Case({f'lookout_capacity_usage{{{X},resource="active_sellers"}}': "50+1x40",
                  f'lookout_capacity_threshold{{{X},resource="active_sellers"}}': "100x40"},
                 at="30m",
                 samples=((f'resource:lookout_capacity_days_until_threshold:days{{{X},resource="active_sellers"}}',
                           20 / 1440),)),
        ),
        Recording(
            # the month ahead from four weeks of history: only the store keeps that much, so vmalert evaluates it
            # (lookout.monitoring.store); the Capacity board reads it from the store's datasource
            record="resource:lookout_capacity_usage:predict_linear4w_30d",
            requires=("capacity", "long_term_store"),
            group="capacity",
            expr="predict_linear(lookout_capacity_usage[4w], 30 * 86400)",
            test=Case({f'lookout_capacity_usage{{{X},resource="active_sellers"}}': "0+10x100"}, at="99h", interval="1h",
                      samples=((f'resource:lookout_capacity_usage:predict_linear4w_30d{{{X},resource="active_sellers"}}',
                                990 + 10 * 24 * 30),)),
        ),
    ]

def _reached(k: Ctx) -> Expr:
    """Each volume over its own threshold from the site file (the exporter's lookout_capacity_threshold is the same
    number): changing it in the site changes this expression and the Volumes panel's line together."""
    if not k.has("capacity"):
        return Expr("")  # the alert is left out
    resources = list(k.site.capacity_thresholds)
    ratios = " or ".join(f'lookout_capacity_usage{{{{resource="{r}"}}}} / {{{r}}}' for r in resources)
    return promql(f"({ratios}) >= {{ratio}}", ratio=k.t.capacity_ratio,
                  **{r: k.t[capacity_key(r)] for r in resources if capacity_key(r) in k.t})


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    thresholds = k.site.capacity_thresholds
    resource = "chats_per_day" if "chats_per_day" in thresholds else next(iter(thresholds))
    limit = thresholds[resource]
    fdays, ratio = float(t.capacity_forecast_days.value), float(t.capacity_ratio.value)  # usage grows 144 a day
    limits = ", ".join(f"{name} {v:,g}" for name, v in thresholds.items())
    return [
        Alert(
            name="CapacityThresholdForecast",
            requires=("capacity",),
            group="capacity",
            expr=promql("predict_linear(lookout_capacity_usage[1d], {days} * 86400)"
                        " > on (instance, job, resource) lookout_capacity_threshold"
                        " and on (instance, job, resource) lookout_capacity_usage < on (instance, job, resource) "
                        "lookout_capacity_threshold"
                        " and on (instance, job, resource) lookout_capacity_usage offset 1d",
                        days=t.capacity_forecast_days),
            severity="warning",
            summary=f"A volume is forecast to cross its scaling threshold within {t.capacity_forecast_days} days.",
            description="{{ $labels.resource }} is forecast to reach {{ $value | humanize }} in "
            f"{t.capacity_forecast_days} days, above its "
            "threshold.",
            panel=(uids.CAPACITY, "Days until threshold"),
            value=v.amount("forecast in 14 days"),
            fire=Case({f"lookout_capacity_usage{_x(resource='active_sellers')}": "0+1x150",
                  f"lookout_capacity_threshold{_x(resource='active_sellers')}": "200x150"}, at="1470m", interval="10m",
                 labels={"job": "lookout", "instance": "exporters:9808", "resource": "active_sellers"},
                 value=147 + 144 * fdays),
            quiet=Case({f"lookout_capacity_usage{_x(resource='active_sellers')}": "0+1x150",
                  f"lookout_capacity_threshold{_x(resource='active_sellers')}": f"{num(147 + 144 * fdays + 1)}x150"},
                       at="1470m", interval="10m"),
            for_="5m",
            meaning="Needs a day of history (no forecast from a fresh install's ramp). At the last day's growth, "
            f"a volume crosses its 'when to scale' threshold ({limits}) within {t.capacity_forecast_days} days: plan "
            "the scaling now.",
            confirm="Capacity board: the forecast and 'days until threshold' panels.",
            fix="Follow the scaling path: vertical (4 CPU, 8 GB), then a second app server, a separate DB server "
            "(docs/scaling.md).",
        ),
        Alert(
            name="CapacityThresholdReached",
            requires=("capacity",),
            group="capacity",
            expr=_reached(k),
            severity="warning",
            summary="A volume has reached its scaling threshold.",
            description="{{ $labels.resource }} is at {{ $value | humanizePercentage }} of its scaling threshold.",
            panel=(uids.CAPACITY, "Volumes"),
            value=v.ratio("of the scaling threshold"),
            fire=Case({f"lookout_capacity_usage{_x(resource=resource)}": f"{num(limit * 1.2 * ratio)}x10"},
                      labels={"job": "lookout", "instance": "exporters:9808", "resource": resource},
                      value=round(1.2 * ratio, 9)),
            quiet=Case({f"lookout_capacity_usage{_x(resource=resource)}": f"{num(limit * ratio - 1)}x10"}),
            for_="5m",
            meaning=f"A volume reached the site's scaling threshold ({limits}): expect latency and saturation.",
            confirm="Capacity board; HTTP RED board (latency), worker pools (busy workers).",
            fix="Scale as planned (docs/scaling.md).",
        ),
    ]

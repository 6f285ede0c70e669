"""Capacity planning: volumes against the scaling thresholds, and their forecast.

Reads the thresholds and facts of the catalog. Publishes ``RECORDINGS`` and ``ALERTS``.
"""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.series import X, _x
from monitoring.catalog.thresholds import T_CAPACITY_RATIO, T_FORECAST_DAYS
from monitoring.model import Alert, Case, Recording, at_least, promql

RECORDINGS: list[Recording] = [
    Recording(
        record="resource:capacity_usage:ratio",
        group="capacity",
        expr="capacity_usage / on (instance, job, resource) capacity_threshold",
        test=Case({f'capacity_usage{{{X},resource="active_sellers"}}': "50x10",
              f'capacity_threshold{{{X},resource="active_sellers"}}': "100x10"},
             samples=((f'resource:capacity_usage:ratio{{{X},resource="active_sellers"}}', 0.5),)),
    ),
    Recording(
        record="resource:capacity_days_until_threshold:days",
        group="capacity",
        expr="(capacity_threshold - on (instance, job, resource) capacity_usage)"
        " / on (instance, job, resource) (deriv(capacity_usage[1d]) * 86400) > 0",
        test=Case({f'capacity_usage{{{X},resource="active_sellers"}}': "50+1x40",
              f'capacity_threshold{{{X},resource="active_sellers"}}': "100x40"},
             at="30m",
             samples=((f'resource:capacity_days_until_threshold:days{{{X},resource="active_sellers"}}', 20 / 1440),)),
    ),
]

ALERTS: list[Alert] = [
    Alert(
        name="CapacityThresholdForecast",
        group="capacity",
        expr=promql("predict_linear(capacity_usage[1d], {days} * 86400)"
                    " > on (instance, job, resource) capacity_threshold"
                    " and on (instance, job, resource) capacity_usage < on (instance, job, resource) capacity_threshold"
                    " and on (instance, job, resource) capacity_usage offset 1d", days=T_FORECAST_DAYS),
        severity="warning",
        summary="A volume is forecast to cross its scaling threshold within 14 days.",
        description="{{ $labels.resource }} is forecast to reach {{ $value | humanize }} in 14 days, above its "
        "threshold.",
        panel=(uids.CAPACITY, "Days until threshold"),
        fire=Case({f"capacity_usage{_x(resource='active_sellers')}": "0+1x150",
              f"capacity_threshold{_x(resource='active_sellers')}": "200x150"}, at="1470m", interval="10m",
             labels={"job": "lookout", "instance": "exporters:9808", "resource": "active_sellers"},
             value=147 + 0.1 * 14 * 1440),
        quiet=Case({f"capacity_usage{_x(resource='active_sellers')}": "0+1x150",
              f"capacity_threshold{_x(resource='active_sellers')}": "2164x150"}, at="1470m", interval="10m"),
        for_="5m",
        meaning="Needs a day of history (no forecast from a fresh install's ramp). At the last day's growth, "
        "the volume (active sellers > 100, chats per day > 10k, concurrent "
        "users > 1,000) crosses the seed's 'when to scale' threshold within 14 days: plan the scaling now.",
        confirm="Capacity board: the forecast and 'days until threshold' panels.",
        fix="Follow the scaling path: vertical (4 CPU, 8 GB), then a second app server, a separate DB server "
        "(docs/scaling.md).",
    ),
    Alert(
        name="CapacityThresholdReached",
        group="capacity",
        expr=at_least("resource:capacity_usage:ratio", T_CAPACITY_RATIO),
        severity="warning",
        summary="A volume has reached its scaling threshold.",
        description="{{ $labels.resource }} is at {{ $value | humanizePercentage }} of its scaling threshold.",
        panel=(uids.CAPACITY, "Usage / threshold"),
        fire=Case({f"capacity_usage{_x(resource='chats_per_day')}": "12000x10",
              f"capacity_threshold{_x(resource='chats_per_day')}": "10000x10"},
             labels={"job": "lookout", "instance": "exporters:9808", "resource": "chats_per_day"}, value=1.2),
        quiet=Case({f"capacity_usage{_x(resource='chats_per_day')}": "9999x10",
              f"capacity_threshold{_x(resource='chats_per_day')}": "10000x10"}),
        for_="5m",
        meaning="The seed's limits of one 2 vCPU / 4 GB VPS with 2 workers are reached: expect latency and "
        "saturation.",
        confirm="Capacity board; HTTP RED board (latency), worker pools (busy workers).",
        fix="Scale as planned (docs/scaling.md).",
    ),
]

"""Capacity planning: each volume against the seed's scaling threshold, a 14-day forecast, days left."""

from dashboards._lib import board, timeseries
from monitoring import catalog as c
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

SEL = 'instance=~"$instance"'
limits = ", ".join(f"{k} {v:,}" for k, v in c.CAPACITY.items())
DASHBOARD = board(
    uids.CAPACITY, "Lookout / Capacity planning",
    f"Volumes against the scaling thresholds ({limits}) of one {c.VPS.vcpus} vCPU / "
    f"{c.VPS.memory_bytes // c.GiB} GB VPS, with predict_linear forecasts.",
    [
        timeseries("Usage / threshold", "Each volume divided by its scaling threshold: 100% means scale now.",
                   [(f"resource:capacity_usage:ratio{{{SEL}}}", "{{resource}}")], "percentunit", [t.T_CAPACITY_RATIO]),
        timeseries("Forecast in 14 days vs threshold", "predict_linear over the last day, 14 days ahead, divided "
                   "by the threshold.",
                   [(f"predict_linear(capacity_usage{{{SEL}}}[1d], {t.T_FORECAST_DAYS} * 86400)"
                     f" / on (instance, job, resource) capacity_threshold{{{SEL}}}", "{{resource}}")], "percentunit",
                   [t.T_CAPACITY_RATIO]),
        timeseries("Days until threshold", "At the last day's growth rate, days until the volume reaches its "
                   "threshold (absent when not growing).",
                   [(f"resource:capacity_days_until_threshold:days{{{SEL}}}", "{{resource}}")], "d",
                   [t.T_FORECAST_DAYS]),
        timeseries("Volumes", "Raw volumes and their thresholds (active sellers, chats per day, concurrent users).",
                   [(f"capacity_usage{{{SEL}}}", "{{resource}}"),
                    (f"capacity_threshold{{{SEL}}}", "{{resource}} limit")],
                   "short"),
    ],
    ("instance", "Exporter", "label_values(capacity_usage, instance)"),
)

"""Capacity planning: each volume against the seed's scaling threshold, a 14-day forecast, days left."""

from lookout.dashboards._lib import Board, board, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.thresholds import capacity_key

SEL = 'instance=~"$instance"'


def build(k: Ctx) -> Board | None:
    if not k.has("capacity"):
        return None
    t = k.t
    limits = ", ".join(f"{name} {v:,g}" for name, v in k.site.capacity_thresholds.items())
    db = k.site.check("capacity")
    h = k.site.host(db[0].host) if db else k.site.hosts[0]
    return board(
        k,
        uids.CAPACITY, "Lookout / Capacity planning",
        f"Volumes against the scaling thresholds ({limits}) of the {h.vcpus} vCPU / "
        f"{h.memory_bytes // 1024**3} GB host, with predict_linear forecasts.",
        [
            timeseries("Usage / threshold", "Each volume divided by its scaling threshold: 100% means scale now.",
                       [(f"resource:lookout_capacity_usage:ratio{{{SEL}}}", "{{resource}}")], "percentunit",
                           [t.capacity_ratio]),
            timeseries("Forecast in 14 days vs threshold", "predict_linear over the last day, 14 days ahead, divided "
                       "by the threshold.",
                       [(f"predict_linear(lookout_capacity_usage{{{SEL}}}[1d], {t.capacity_forecast_days} * 86400)"
                         f" / on (instance, job, resource) lookout_capacity_threshold{{{SEL}}}", "{{resource}}")],
                             "percentunit",
                       [t.capacity_ratio]),
            timeseries("Days until threshold", "At the last day's growth rate, days until the volume reaches its "
                       "threshold (absent when not growing).",
                       [(f"resource:lookout_capacity_days_until_threshold:days{{{SEL}}}", "{{resource}}")], "d",
                       [t.capacity_forecast_days]),
            timeseries("Volumes", "Raw volumes and their thresholds (active sellers, chats per day, concurrent users).",
                       [(f"lookout_capacity_usage{{{SEL}}}", "{{resource}}"),
                        (f"lookout_capacity_threshold{{{SEL}}}", "{{resource}} limit")],
                       "short", [*(t[capacity_key(r)] for r in k.site.capacity_thresholds), t.capacity_ratio]),
        ],
        ("instance", "Exporter", "label_values(lookout_capacity_usage, instance)"),
    )

"""Marketplace sync (Wildberries/Ozon every 30 s), token expiry and SLA breaches of the chat center."""

from lookout.dashboards._lib import Board, board, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx

SEL = 'instance=~"$instance"'
REQUIRES = {
    "Sync lag (worst seller)": ("marketplace_sync",), "Stale and erroring sellers": ("marketplace_sync",),
    "SLA: breached and at risk": ("sla",), "Oldest SLA breach": ("sla",),
    "Days until token expiry": ("marketplace_sync|tokens",),
}


def build(k: Ctx) -> Board | None:
    if not k.has("marketplace_sync|sla|tokens"):
        return None
    t = k.t
    return board(
        k,
        uids.MARKETPLACE_SLA, "Lookout / Marketplace sync and SLA",
        "Sync lag per marketplace and kind, stale and erroring sellers, tokens, SLA breaches by channel.",
        [
            timeseries("Sync lag (worst seller)", "Worst time since the last successful sync across active sellers "
                       f"(sync_all_sellers runs every {k.site.periodic_tasks.get('sync_all_sellers', 30):g} s).",
                       [(f"lookout_marketplace_sync_lag_seconds{{{SEL}}}", "{{marketplace}} {{kind}}")], "s",
                           [t.marketplace_sync_lag]),
            timeseries("Stale and erroring sellers", "Sellers not synced within the exporter's thresholds and sellers "
                       "with consecutive sync errors.",
                       [(f"lookout_marketplace_sync_stale_sellers{{{SEL}}}",
                         "{{marketplace}} {{kind}} stale > {{threshold}} s"),
                        (f"lookout_marketplace_sync_erroring_sellers{{{SEL}}}", "{{marketplace}} {{kind}} erroring")],
                        "short",
                       [t.sla_breached]),
            timeseries("SLA: breached and at risk", "Open interactions past their SLA deadline and due within the "
                       "horizon, by channel (chat, feedback, question).",
                       [(f"lookout_sla_interactions_breached{{{SEL}}}", "{{channel}} breached"),
                        (f"lookout_sla_interactions_at_risk{{{SEL}}}", "{{channel}} at risk")], "short",
                        [t.sla_breached]),
            timeseries("Oldest SLA breach", "Time since the deadline of the oldest open breach, by channel.",
                       [(f"lookout_sla_oldest_breach_age_seconds{{{SEL}}}", "{{channel}}")], "s",
                       [t.marketplace_sync_lag]),
            timeseries("Days until token expiry", "Days before API tokens (JWT exp) and the first seller token of "
                       "each marketplace expire.",
                       [(f"(lookout_api_token_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400", "{{name}}"),
                        (f"(lookout_marketplace_token_earliest_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400",
                         "{{marketplace}} sellers")], "d", [t.token_expiry_days], w=24),
        ],
        ("instance", "Exporter", "label_values(lookout_marketplace_sync_lag_seconds, instance)"), requires=REQUIRES,
    )

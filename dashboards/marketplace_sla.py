"""Marketplace sync (Wildberries/Ozon every 30 s), token expiry and SLA breaches of the chat center."""

from dashboards._lib import board, timeseries
from monitoring import catalog as c
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

SEL = 'instance=~"$instance"'
DASHBOARD = board(
    uids.MARKETPLACE_SLA, "Lookout / Marketplace sync and SLA",
    "Sync lag per marketplace and kind, stale and erroring sellers, tokens, SLA breaches by channel.",
    [
        timeseries("Sync lag (worst seller)", "Worst time since the last successful sync across active sellers "
                   f"(sync_all_sellers runs every {c.PERIODIC_TASKS['sync_all_sellers']} s).",
                   [(f"marketplace_sync_lag_seconds{{{SEL}}}", "{{marketplace}} {{kind}}")], "s", [t.T_SYNC_LAG]),
        timeseries("Stale and erroring sellers", "Sellers not synced within the exporter's thresholds and sellers "
                   "with consecutive sync errors.",
                   [(f"marketplace_sync_stale_sellers{{{SEL}}}", "{{marketplace}} {{kind}} stale > {{threshold}} s"),
                    (f"marketplace_sync_erroring_sellers{{{SEL}}}", "{{marketplace}} {{kind}} erroring")], "short",
                   [t.T_SLA_BREACHED]),
        timeseries("SLA: breached and at risk", "Open interactions past their SLA deadline and due within the "
                   "horizon, by channel (chat, feedback, question).",
                   [(f"sla_interactions_breached{{{SEL}}}", "{{channel}} breached"),
                    (f"sla_interactions_at_risk{{{SEL}}}", "{{channel}} at risk")], "short", [t.T_SLA_BREACHED]),
        timeseries("Oldest SLA breach", "Time since the deadline of the oldest open breach, by channel.",
                   [(f"sla_oldest_breach_age_seconds{{{SEL}}}", "{{channel}}")], "s", [t.T_SYNC_LAG]),
        timeseries("Days until token expiry", "Days before API tokens (JWT exp) and the first seller token of "
                   "each marketplace expire.",
                   [(f"(api_token_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400", "{{name}}"),
                    (f"(marketplace_token_earliest_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400",
                     "{{marketplace}} sellers")], "d", [t.T_TOKEN_DAYS], w=24),
    ],
    ("instance", "Exporter", "label_values(marketplace_sync_lag_seconds, instance)"),
)

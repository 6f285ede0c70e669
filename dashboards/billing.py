"""Billing and credits reconciliation of the voice platform (1 credit = 1 second)."""

from dashboards._lib import board, stat, timeseries
from monitoring import catalog as c
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

SEL = 'instance=~"$instance"'
DASHBOARD = board(
    uids.BILLING, "Lookout / Billing and credits",
    f"Conversations not charged, charged wrong, and missed ElevenLabs end webhooks "
    f"(1 credit = {c.CREDIT_SECONDS} second).",
    [
        timeseries("Unreconciled conversations", "Conversations in the look-back window whose charge does not "
                   "reconcile: no end event, ended but not charged, charge differing from the duration.",
                   [(f"credits_conversations_unreconciled{{{SEL}}}", "{{reason}}")], "short",
                   [t.T_CREDITS_UNRECONCILED]),
        timeseries("Unreconciled seconds", "Seconds (= credits) involved, by reason: revenue at stake.",
                   [(f"credits_unreconciled_seconds{{{SEL}}}", "{{reason}}")], "s", [t.T_CREDITS_UNRECONCILED]),
        timeseries("Missing end webhooks (ElevenLabs cross-check)", "Conversations ElevenLabs lists as finished "
                   "that the platform never recorded as ended.",
                   [(f"elevenlabs_conversations_missing_end_event{{{SEL}}}", "missing end event")], "short",
                   [t.T_CREDITS_UNRECONCILED]),
        stat("Customers with negative balance", "Customers whose credit balance is below zero.",
             [(f"credits_customers_negative_balance{{{SEL}}}", "customers")], "short", [t.T_CREDITS_UNRECONCILED],
             w=12, h=8),
    ],
    ("instance", "Exporter", "label_values(credits_conversations_unreconciled, instance)"),
)

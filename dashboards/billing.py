"""Billing and credits reconciliation of the voice platform (1 credit = 1 second)."""

from lookout.dashboards._lib import Board, board, stat, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx

SEL = 'instance=~"$instance"'
REQUIRES = {
    "Unreconciled conversations": ("credits",), "Unreconciled seconds": ("credits",),
    "Missing end webhooks (ElevenLabs cross-check)": ("elevenlabs_conversations",),
    "Customers with negative balance": ("credits",),
}


def build(k: Ctx) -> Board | None:
    if not k.has("credits|elevenlabs_conversations"):
        return None
    t = k.t
    return board(
        k,
        uids.BILLING, "Lookout / Billing and credits",
        "Conversations not charged, charged wrong, and missed ElevenLabs end webhooks "
        "(1 credit = 1 second).",
        [
            timeseries("Unreconciled conversations", "Conversations in the look-back window whose charge does not "
                       "reconcile: no end event, ended but not charged, charge differing from the duration.",
                       [(f"lookout_credits_conversations_unreconciled{{{SEL}}}", "{{reason}}")], "short",
                       [t.credits_unreconciled]),
            timeseries("Unreconciled seconds", "Seconds (= credits) involved, by reason: revenue at stake.",
                       [(f"lookout_credits_unreconciled_seconds{{{SEL}}}", "{{reason}}")], "s",
                       [t.credits_unreconciled]),
            timeseries("Missing end webhooks (ElevenLabs cross-check)", "Conversations ElevenLabs lists as finished "
                       "that the platform never recorded as ended; \"listing truncated\" is 1 when the listing stopped "
                       "at max_pages and the count is a lower bound.",
                       [(f"lookout_elevenlabs_conversations_missing_end_event{{{SEL}}}", "missing end event"),
                        (f"lookout_elevenlabs_conversations_listing_truncated{{{SEL}}}",
                         "listing truncated (a lower bound)")],
                       "short",
                       [t.credits_unreconciled]),
            stat("Customers with negative balance", "Customers whose credit balance is below zero.",
                 [(f"lookout_credits_customers_negative_balance{{{SEL}}}", "customers")], "short",
                 [t.credits_unreconciled],
                 w=12, h=8),
        ],
        ("instance", "Exporter", "label_values(lookout_credits_conversations_unreconciled, instance)"),
        requires=REQUIRES,
    )

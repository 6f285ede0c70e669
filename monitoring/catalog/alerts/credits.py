"""Voice credits (1 credit = 1 second): conversations not charged or charged wrong, missing end webhooks.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import X, _x
from lookout.monitoring.model import Alert, Case, Recording, above


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    found = k.site.check("credits")
    app = next((s for s in k.site.services if found and s.platform == found[0].platform and s.unit), None)
    unit = app.unit if app else "<unit>"
    return [
        Alert(
            name="CreditsNotCharged",
            requires=("credits",),
            group="voice-platform",
            expr=above("sum by (host, reason) "
                       '(lookout_credits_conversations_unreconciled{reason=~"no_end_event|not_charged"})',
                       t.credits_unreconciled),
            severity="warning",
            summary="Voice conversations are not being charged.",
            description="{{ $value | humanize }} conversations in the window are unreconciled ({{ $labels.reason }}): "
            "credits "
            "are not charged.",
            panel=(uids.BILLING, "Unreconciled conversations"),
            value=v.count("conversations not charged"),
            fire=Case({f"lookout_credits_conversations_unreconciled{_x(reason='no_end_event')}": "3x10"},
                 labels={"reason": "no_end_event"}, value=3),
            quiet=Case({f"lookout_credits_conversations_unreconciled{_x(reason='no_end_event')}": "0x10"}),
            for_="2m",
            meaning="Playbook incident 4: a `conversation:end` webhook was missed (or the end was recorded but no "
            "charge followed), so the call was never billed. Each second is a credit lost.",
            confirm="`lookout-exporter report credits --config FILE` lists the conversations; the platform's "
            "journal should show BOTH `conversation:init` and `conversation:end` for each "
            f"(`journalctl -u {unit} -f | grep conversation`).",
            fix="Re-apply the agent's webhook configuration (the platform's `scripts/fix_agent_webhooks.py "
            "<agent_id>`), "
            "then charge the listed conversations from ElevenLabs' conversation details.",
        ),
        Alert(
            name="CreditsChargeMismatch",
            requires=("credits",),
            group="voice-platform",
            expr=above('lookout_credits_conversations_unreconciled{reason="charge_mismatch"}', t.credits_unreconciled),
            severity="warning",
            summary="Charged credits differ from conversation durations.",
            description="{{ $value | humanize }} conversations were charged a different number of credits than their "
            "duration.",
            panel=(uids.BILLING, "Unreconciled conversations"),
            value=v.count("charges unreconciled"),
            fire=Case({f"lookout_credits_conversations_unreconciled{_x(reason='charge_mismatch')}": "2x10"}, value=2),
            quiet=Case({f"lookout_credits_conversations_unreconciled{_x(reason='charge_mismatch')}": "0x10"}),
            for_="2m",
            meaning="1 credit = 1 second: a charge that differs from `call_duration_secs` beyond the tolerance means "
            "the charging code is wrong (over- or under-billing).",
            confirm="`lookout-exporter report credits --config FILE` shows charged vs duration per conversation.",
            fix="Fix the charging code path (credits_manager); correct the affected balances from the report.",
        ),
        Alert(
            name="ElevenLabsEndEventsMissing",
            requires=("elevenlabs_conversations",),
            group="voice-platform",
            expr=above("lookout_elevenlabs_conversations_missing_end_event", t.credits_unreconciled),
            severity="warning",
            summary="ElevenLabs reports finished conversations the platform never saw end.",
            description="{{ $value | humanize }} conversations finished at ElevenLabs have no end event in the "
            "database.",
            panel=(uids.BILLING, "Missing end webhooks (ElevenLabs cross-check)"),
            value=v.count("conversations without an end event"),
            fire=Case({f"lookout_elevenlabs_conversations_missing_end_event{{{X}}}": "4x10"}, value=4),
            quiet=Case({f"lookout_elevenlabs_conversations_missing_end_event{{{X}}}": "0x10"}),
            for_="2m",
            meaning="ElevenLabs does not retry webhooks by default and disables endpoints after repeated failures: "
            "these conversations will never be charged unless reconciled.",
            confirm="ElevenLabs dashboard > Agent > Webhooks (endpoint enabled?); the platform's webhook logs.",
            fix="Re-enable/fix the webhook endpoint and signature secret, then reconcile as for CreditsNotCharged.",
        ),
        Alert(
            name="ElevenLabsListingTruncated",
            requires=("elevenlabs_conversations",),
            group="voice-platform",
            expr="lookout_elevenlabs_conversations_listing_truncated == 1",
            severity="warning",
            summary="The ElevenLabs conversation listing stops at max_pages: the cross-check counts are lower "
            "bounds.",
            description="{{ $labels.instance }} reads at most max_pages pages of ElevenLabs conversations and more "
            "exist in the look-back window.",
            panel=(uids.BILLING, "Missing end webhooks (ElevenLabs cross-check)"),
            value=v.NO_VALUE,
            fire=Case({f"lookout_elevenlabs_conversations_listing_truncated{{{X}}}": "1x20"}, at="15m", value=1),
            quiet=Case({f"lookout_elevenlabs_conversations_listing_truncated{{{X}}}": "0x20"}, at="15m"),
            for_="10m",
            meaning="More conversations finished in the look-back window than `max_pages` x `page_size` lists: "
            "the older ones are not checked, so a missing end event among them goes unseen "
            "(ElevenLabsEndEventsMissing can stay silent).",
            confirm="The ElevenLabs dashboard's conversation count for the look-back window, against "
            "`max_pages` x `page_size` in the exporter's elevenlabs settings.",
            fix="Raise `max_pages` (each page is one API call per refresh) or shorten `lookback`.",
        ),
    ]

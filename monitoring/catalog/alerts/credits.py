"""Voice credits (1 credit = 1 second): conversations not charged or charged wrong, missing end webhooks.

Reads the thresholds and facts of the catalog. Publishes ``RECORDINGS`` and ``ALERTS``.
"""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.series import X, _x
from monitoring.catalog.thresholds import T_CREDITS_UNRECONCILED
from monitoring.model import Alert, Case, Recording, above

RECORDINGS: list[Recording] = [
]

ALERTS: list[Alert] = [
    Alert(
        name="CreditsNotCharged",
        group="voice-platform",
        expr=above('sum by (host, reason) (credits_conversations_unreconciled{reason=~"no_end_event|not_charged"})',
                   T_CREDITS_UNRECONCILED),
        severity="warning",
        summary="Voice conversations are not being charged.",
        description="{{ $value | humanize }} conversations in the window are unreconciled ({{ $labels.reason }}): "
        "credits "
        "are not charged.",
        panel=(uids.BILLING, "Unreconciled conversations"),
        fire=Case({f"credits_conversations_unreconciled{_x(reason='no_end_event')}": "3x10"},
             labels={"reason": "no_end_event"}, value=3),
        quiet=Case({f"credits_conversations_unreconciled{_x(reason='no_end_event')}": "0x10"}),
        for_="2m",
        meaning="Playbook incident 4: a `conversation:end` webhook was missed (or the end was recorded but no "
        "charge followed), so the call was never billed. Each second is a credit lost.",
        confirm="`python -m exporters report credits --config FILE` lists the conversations; the platform's "
        "journal should show BOTH `conversation:init` and `conversation:end` for each "
        "(`journalctl -u api.service -f | grep conversation`).",
        fix="Re-apply the agent's webhook configuration (the platform's `scripts/fix_agent_webhooks.py <agent_id>`), "
        "then charge the listed conversations from ElevenLabs' conversation details.",
    ),
    Alert(
        name="CreditsChargeMismatch",
        group="voice-platform",
        expr=above('credits_conversations_unreconciled{reason="charge_mismatch"}', T_CREDITS_UNRECONCILED),
        severity="warning",
        summary="Charged credits differ from conversation durations.",
        description="{{ $value | humanize }} conversations were charged a different number of credits than their "
        "duration.",
        panel=(uids.BILLING, "Unreconciled conversations"),
        fire=Case({f"credits_conversations_unreconciled{_x(reason='charge_mismatch')}": "2x10"}, value=2),
        quiet=Case({f"credits_conversations_unreconciled{_x(reason='charge_mismatch')}": "0x10"}),
        for_="2m",
        meaning="1 credit = 1 second: a charge that differs from `call_duration_secs` beyond the tolerance means "
        "the charging code is wrong (over- or under-billing).",
        confirm="`python -m exporters report credits --config FILE` shows charged vs duration per conversation.",
        fix="Fix the charging code path (credits_manager); correct the affected balances from the report.",
    ),
    Alert(
        name="ElevenLabsEndEventsMissing",
        group="voice-platform",
        expr=above("elevenlabs_conversations_missing_end_event", T_CREDITS_UNRECONCILED),
        severity="warning",
        summary="ElevenLabs reports finished conversations the platform never saw end.",
        description="{{ $value | humanize }} conversations finished at ElevenLabs have no end event in the database.",
        panel=(uids.BILLING, "Missing end webhooks (ElevenLabs cross-check)"),
        fire=Case({f"elevenlabs_conversations_missing_end_event{{{X}}}": "4x10"}, value=4),
        quiet=Case({f"elevenlabs_conversations_missing_end_event{{{X}}}": "0x10"}),
        for_="2m",
        meaning="ElevenLabs does not retry webhooks by default and disables endpoints after repeated failures: "
        "these conversations will never be charged unless reconciled.",
        confirm="ElevenLabs dashboard > Agent > Webhooks (endpoint enabled?); the platform's webhook logs.",
        fix="Re-enable/fix the webhook endpoint and signature secret, then reconcile as for CreditsNotCharged.",
    ),
]

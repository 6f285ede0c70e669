"""The chat center's business: marketplace sync lag, SLA breaches, token expiry.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import DAY, _x, num
from lookout.monitoring.model import Alert, Case, Recording, above, below


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    days = float(t.token_expiry_days.value)
    soon, sooner = days * 5 / 7, days * 3 / 14  # 10 and 3 days of the default 14
    return [
        Alert(
            name="MarketplaceSyncLagging",
            requires=("marketplace_sync",),
            group="chatcenter",
            expr=above("lookout_marketplace_sync_lag_seconds", t.marketplace_sync_lag),
            severity="warning",
            summary="Marketplace sync is falling behind.",
            description="{{ $labels.marketplace }} {{ $labels.kind }} sync lags by {{ $value | humanizeDuration }}.",
            panel=(uids.MARKETPLACE_SLA, "Sync lag (worst seller)"),
            value=v.duration("behind"),
            fire=Case({f"lookout_marketplace_sync_lag_seconds{_x(marketplace='wb', kind='chats')}": "900x10"},
                      value=900),
            quiet=Case({f"lookout_marketplace_sync_lag_seconds{_x(marketplace='wb', kind='chats')}": "300x10"}),
            for_="2m",
            meaning="`sync_all_sellers` runs every 30 s; a seller not synced for 10 intervals means buyers' "
            "messages are not seen (marketplace slow, rate-limited (429), failing (5xx), or a token expired).",
            confirm="`lookout-exporter report sync --config FILE` lists the sellers; the erroring-sellers panel; "
            "the Celery periodic-task panel.",
            fix="Rate limits (~100 req/min per token): spread sellers; 5xx: wait and watch; token errors: renew the "
            "seller's token.",
        ),
        Alert(
            name="SlaBreached",
            requires=("sla",),
            group="chatcenter",
            expr=above("sum by (host, channel) (lookout_sla_interactions_breached)", t.sla_breached),
            severity="critical",
            summary="Buyer interactions passed their SLA deadline unanswered.",
            description="{{ $value | humanize }} open {{ $labels.channel }} interactions are past their SLA deadline.",
            panel=(uids.MARKETPLACE_SLA, "SLA: breached and at risk"),
            value=v.count("interactions past their SLA"),
            fire=Case({f"lookout_sla_interactions_breached{_x(channel='chat')}": "2x10"}, labels={"channel": "chat"},
                      value=2),
            quiet=Case({f"lookout_sla_interactions_breached{_x(channel='chat')}": "0x10"}),
            for_="1m",
            meaning="Chats, feedbacks or questions are open past the deadline of their `sla_rules`: sellers are "
            "penalised by the marketplace.",
            confirm="`lookout-exporter report sla --config FILE`; check `check_sla_escalation` runs (Celery board).",
            fix="Escalate to the seller's operators now; if escalation itself is stale, restart Celery beat/worker.",
        ),
        Alert(
            name="ApiTokenExpiringSoon",
            requires=("tokens",),
            group="chatcenter",
            expr=below("(lookout_api_token_expiry_timestamp_seconds - time()) / 86400", t.token_expiry_days),
            severity="warning",
            summary=f"An API token expires within {t.token_expiry_days} days.",
            description="Token {{ $labels.name }} expires in {{ $value | humanize }} days.",
            panel=(uids.MARKETPLACE_SLA, "Days until token expiry"),
            value=v.amount("days"),
            fire=Case({f"lookout_api_token_expiry_timestamp_seconds{_x(name='wb_feedbacks')}":
                       f"{num(soon * DAY + 600)}x20"},
                      at="10m", value=soon),
            quiet=Case({f"lookout_api_token_expiry_timestamp_seconds{_x(name='wb_feedbacks')}":
                        f"{num(days * DAY + 600)}x20"},
                       at="10m"),
            for_="5m",
            meaning="A JWT the platform uses (for example the WB connector token, valid 180 days) is about to "
            "expire; syncs will fail with 401 afterwards.",
            confirm="The token's `exp` claim (`lookout-exporter once --config FILE | grep api_token`).",
            fix="Issue a new token at the provider, store it in the secrets file, restart the service that uses it.",
        ),
        Alert(
            name="MarketplaceTokenExpiringSoon",
            requires=("marketplace_sync",),
            group="chatcenter",
            expr=below("(lookout_marketplace_token_earliest_expiry_timestamp_seconds - time()) / 86400",
                       t.token_expiry_days),
            severity="warning",
            summary=f"A seller's marketplace token expires within {t.token_expiry_days} days.",
            description="The first {{ $labels.marketplace }} seller token expires in {{ $value | humanize }} days.",
            panel=(uids.MARKETPLACE_SLA, "Days until token expiry"),
            value=v.amount("days"),
            fire=Case({f"lookout_marketplace_token_earliest_expiry_timestamp_seconds{_x(marketplace='wb')}":
                       f"{num(sooner * DAY + 600)}x20"},
                      at="10m", value=sooner),
            quiet=Case(
                {f"lookout_marketplace_token_earliest_expiry_timestamp_seconds{_x(marketplace='wb')}":
                 f"{num(days * DAY + 600)}x20"},
                 at="10m"),
            for_="5m",
            meaning="A seller's WB/Ozon token (WB JWTs are valid 180 days) expires soon: that seller's sync stops.",
            confirm="`lookout-exporter report sync --config FILE` lists sellers and token expiry.",
            fix="Ask the seller to issue a new token and update it in the seller's settings.",
        ),
    ]

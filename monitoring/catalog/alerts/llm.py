"""LLM spend against the budget, provider balance and quotas, unpriced calls.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import X, _x, num
from lookout.monitoring.model import Alert, Case, Recording, above, below

# the series the spend and balance alerts' tests feed
SPEND = f"lookout_llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}"
BALANCE = f"lookout_llm_provider_balance{_x(provider='deepseek', currency='USD')}"


def recordings(k: Ctx) -> list[Recording]:
    return [
        Recording(
            record="provider:lookout_llm_spend_usd:increase1d",
            requires=("llm_spend",),
            group="llm",
            expr="sum by (host, provider) (increase(lookout_llm_spend_usd_total[1d]))",
            test=Case({f'lookout_llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
                  "0+1x60"},
                 at="30m", samples=(('provider:lookout_llm_spend_usd:increase1d{provider="deepseek"}', 30),)),
        ),
        Recording(
            record="provider:lookout_llm_spend_usd:rate1h",
            requires=("llm_spend",),
            group="llm",
            expr="sum by (host, provider) (rate(lookout_llm_spend_usd_total[1h]))",
            test=Case({f'lookout_llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
                  "0+0.6x70"},
                 at="65m", samples=(('provider:lookout_llm_spend_usd:rate1h{provider="deepseek"}', 0.01),)),
        ),
        Recording(
            record="provider:lookout_llm_spend_usd:rate15m",
            requires=("llm_spend",),
            group="llm",
            expr="sum by (host, provider) (rate(lookout_llm_spend_usd_total[15m]))",
            test=Case({f'lookout_llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
                  "0+0.6x30"},
                 at="20m", samples=(('provider:lookout_llm_spend_usd:rate15m{provider="deepseek"}', 0.01),)),
        ),
        Recording(
            record="provider:lookout_llm_balance_runway:days",
            requires=("deepseek", "llm_spend"),
            group="llm",
            expr='sum by (host, provider) (lookout_llm_provider_balance{currency="USD"})'
            " / on (host, provider) (provider:lookout_llm_spend_usd:rate1h * 86400)",
            test=Case({f'lookout_llm_provider_balance{{{X},provider="deepseek",currency="USD"}}': "1728x70",
                  f'lookout_llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
                  "0+0.6x70"},
                 at="65m", samples=(('provider:lookout_llm_balance_runway:days{provider="deepseek"}', 2),)),
        ),
    ]

def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    runway = float(t.llm_runway_days.value)  # the cases spend 864 USD a day
    short = round(runway * 2 / 7, 9)
    quota_at = 100 * float(t.provider_quota_ratio.value)  # characters (thousands) of a 100k quota
    quota_hi = min(100.0, quota_at + 5)
    return [
        Alert(
            name="LlmSpendOverDailyBudget",
            requires=("llm_spend",),
            group="llm",
            expr=above("provider:lookout_llm_spend_usd:increase1d", t.llm_daily_budget_usd),
            severity="warning",
            summary="LLM spend over the last day is above the daily budget.",
            description="{{ $labels.provider }} spend over 24 h is {{ $value | humanize }} USD.",
            panel=(uids.LLM, "Spend per day (USD)"),
            value=v.amount("USD in 24 h"),
            fire=Case({SPEND: "0+0.5x40"}, at="30m", labels={"provider": "deepseek"}, value=15),
            quiet=Case({SPEND: "0+0.03x40"}, at="30m"),
            for_="5m",
            meaning="Token usage (cache-miss input, output) costs more than the budget: a prompt grew, a loop "
            "re-analyses chats, or prices changed (the price table is versioned in the exporter).",
            confirm="LLM board: spend by model and feature, tokens by type; `llm_usage` rows of the last hour.",
            fix="Find the feature that spikes; cap it; check cache-hit share (cache-hit input costs ~2% of "
            "cache-miss).",
        ),
        Alert(
            name="LlmSpendRateHigh",
            requires=("llm_spend",),
            group="llm",
            expr=above("provider:lookout_llm_spend_usd:rate15m * 86400", t.llm_daily_budget_usd),
            severity="warning",
            summary="LLM spend over the last 15 minutes runs above the daily budget's pace.",
            description="{{ $labels.provider }} spends at {{ $value | humanize }} USD per day over the last 15 "
            "minutes.",
            panel=(uids.LLM, "Spend pace (USD per day, last 15 min)"),
            value=v.amount("USD per day"),
            fire=Case({SPEND: "0+0.01x30"}, at="20m", labels={"provider": "deepseek"}, value=14.4),
            quiet=Case({SPEND: "0+0.0006x30"}, at="20m"),
            for_="5m",
            meaning="The spend pace of the last 15 minutes, projected over a day, exceeds the budget: the daily "
            "alert would fire hours later.",
            confirm="LLM board: spend by model and feature over the last 15 minutes.",
            fix="As for LlmSpendOverDailyBudget.",
        ),
        Alert(
            name="LlmBalanceRunwayShort",
            requires=("deepseek", "llm_spend"),
            group="llm",
            expr=below("provider:lookout_llm_balance_runway:days", t.llm_runway_days),
            severity="warning",
            summary=f"The LLM provider balance lasts less than {t.llm_runway_days} days at the current pace.",
            description="{{ $labels.provider }} balance covers {{ $value | humanize }} more days of spend.",
            panel=(uids.LLM, "Balance runway (days)"),
            value=v.amount("days of spend left"),
            fire=Case({BALANCE: f"{num(short * 864)}x70",
                  SPEND: "0+0.6x70"}, at="65m", labels={"provider": "deepseek"}, value=short),
            quiet=Case({BALANCE: f"{num(runway * 864 + 52)}x70", SPEND: "0+0.6x70"}, at="65m"),
            for_="5m",
            meaning="At the last hour's spend pace the prepaid balance runs out within a week; then every call "
            "gets HTTP 402 Insufficient Balance and chat analysis stops.",
            confirm="DeepSeek console balance; LLM board balance and spend panels.",
            fix="Top up the balance, or reduce spend (see LlmSpendOverDailyBudget).",
        ),
        Alert(
            name="LlmProviderBalanceUnavailable",
            requires=("deepseek",),
            group="llm",
            expr="lookout_llm_provider_balance_available == 0",
            severity="critical",
            summary="The LLM provider reports the balance as insufficient for API calls.",
            description="{{ $labels.provider }} reports no available balance: API calls fail with 402.",
            panel=(uids.LLM, "Provider balance"),
            value=v.NO_VALUE,
            fire=Case({f"lookout_llm_provider_balance_available{_x(provider='deepseek')}": "0x10"}),
            quiet=Case({f"lookout_llm_provider_balance_available{_x(provider='deepseek')}": "1x10"}), for_="1m",
            meaning="DeepSeek's `/user/balance` says `is_available: false`: every completion returns "
            "402 Insufficient Balance; chats stay unanalysed and drafts are not generated.",
            confirm="`curl -H 'Authorization: Bearer $KEY' https://api.deepseek.com/user/balance`; "
            "analyze_pending_chats failures on the Celery board.",
            fix="Top up the balance now; failed analyses are retried by the next `analyze_pending_chats` runs.",
        ),
        Alert(
            name="ProviderQuotaNearLimit",
            requires=("elevenlabs",),
            group="llm",
            expr=above("lookout_elevenlabs_subscription_characters_used"
                       " / lookout_elevenlabs_subscription_characters_limit",
                       t.provider_quota_ratio),
            severity="warning",
            summary="A provider subscription quota is nearly used up.",
            description="ElevenLabs has used {{ $value | humanizePercentage }} of its character quota for this period.",
            panel=(uids.LLM, "ElevenLabs quota used"),
            value=v.ratio("of the character quota"),
            fire=Case({f"lookout_elevenlabs_subscription_characters_used{{{X}}}": f"{num(quota_hi * 1000)}x10",
                  f"lookout_elevenlabs_subscription_characters_limit{{{X}}}": "100000x10"},
                 labels={"job": "lookout", "instance": "exporters:9808"}, value=quota_hi / 100),
            quiet=Case({f"lookout_elevenlabs_subscription_characters_used{{{X}}}": f"{num(quota_at * 1000)}x10",
                  f"lookout_elevenlabs_subscription_characters_limit{{{X}}}": "100000x10"}),
            for_="5m",
            meaning="When the quota is exhausted before the next reset, ElevenLabs refuses new conversations: "
            "voice agents stop answering calls.",
            confirm="ElevenLabs > Subscription: usage and reset date (the board shows the next reset).",
            fix="Upgrade the plan or enable usage-based billing before the quota runs out.",
        ),
        Alert(
            name="LlmUnpricedUsage",
            requires=("llm_spend",),
            group="llm",
            expr=above("sum by (host, provider, model) (increase(lookout_llm_unpriced_calls_total[1h]))",
                       t.llm_unpriced_calls),
            severity="info",
            summary="LLM calls use a model the price table cannot price.",
            description="{{ $value | humanize }} calls to {{ $labels.provider }} model {{ $labels.model }} in the last "
            "hour were "
            "not priced.",
            panel=(uids.LLM, "Unpriced calls (unknown models)"),
            value=v.count("unpriced calls in 1 h"),
            fire=Case({f"lookout_llm_unpriced_calls_total{_x(provider='deepseek', model='deepseek-v9')}": "0+1x70"},
                      at="65m",
                 labels={"provider": "deepseek", "model": "deepseek-v9"}, value=60),
            quiet=Case({f"lookout_llm_unpriced_calls_total{_x(provider='deepseek', model='deepseek-v9')}": "3x70"},
                       at="65m"),
            for_="5m",
            meaning="The application calls a model missing from the versioned price table (a new or renamed model, "
            "such as the retired `deepseek-chat` alias): its spend is counted as tokens but not in USD. "
            "Informational: shown on the LLM board, not sent.",
            confirm="LLM board 'Unpriced calls'; `lookout_llm_price_table_info` for the table version.",
            fix="Add the model (or alias) with its effective-from prices to the price table "
            "(exporters/data/prices.yaml) and restart the exporter.",
        ),
        Alert(
            name="LlmUsageTotalsLowerBound",
            requires=("llm_spend",),
            group="llm",
            expr="lookout_llm_usage_totals_lower_bound == 1",
            severity="warning",
            summary="LLM spend totals may miss usage rows: max_watched_ids is reached.",
            description="{{ $labels.instance }} watches more late-committing usage ids than max_watched_ids: a row "
            "committed late in an unwatched gap is not counted, so tokens and USD are lower bounds.",
            panel=(uids.LLM, "Unpriced calls (unknown models)"),
            value=v.NO_VALUE,
            fire=Case({f"lookout_llm_usage_totals_lower_bound{{{X}}}": "1x20"}, at="15m", value=1),
            quiet=Case({f"lookout_llm_usage_totals_lower_bound{{{X}}}": "0x20"}, at="15m"),
            for_="10m",
            meaning="The llm_spend collector remembers usage ids still open in its late-commit window, up to "
            "`max_watched_ids`; past that, a row committed late in a gap it no longer watches is never counted. "
            "The spend and budget alerts then read lower figures than the provider bills.",
            confirm="`lookout_llm_usage_totals_lower_bound` on the LLM board; the number of usage rows written per "
            "`late_commit_window` against `max_watched_ids` in the exporter's llm_spend settings.",
            fix="Raise `max_watched_ids` or shorten `late_commit_window` in the exporter's llm_spend settings.",
        ),
    ]

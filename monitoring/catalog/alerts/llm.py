"""LLM spend against the budget, provider balance and quotas, unpriced calls.

Reads the thresholds and facts of the catalog. Publishes ``RECORDINGS`` and ``ALERTS``.
"""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.series import X, _x
from monitoring.catalog.thresholds import T_LLM_DAILY_BUDGET, T_LLM_RUNWAY_DAYS, T_QUOTA_RATIO, T_UNPRICED_CALLS
from monitoring.model import Alert, Case, Recording, above, below

RECORDINGS: list[Recording] = [
    Recording(
        record="provider:llm_spend_usd:increase1d",
        group="llm",
        expr="sum by (host, provider) (increase(llm_spend_usd_total[1d]))",
        test=Case({f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+1x60"},
             at="30m", samples=(('provider:llm_spend_usd:increase1d{provider="deepseek"}', 30),)),
    ),
    Recording(
        record="provider:llm_spend_usd:rate1h",
        group="llm",
        expr="sum by (host, provider) (rate(llm_spend_usd_total[1h]))",
        test=Case({f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+0.6x70"},
             at="65m", samples=(('provider:llm_spend_usd:rate1h{provider="deepseek"}', 0.01),)),
    ),
    Recording(
        record="provider:llm_spend_usd:rate15m",
        group="llm",
        expr="sum by (host, provider) (rate(llm_spend_usd_total[15m]))",
        test=Case({f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+0.6x30"},
             at="20m", samples=(('provider:llm_spend_usd:rate15m{provider="deepseek"}', 0.01),)),
    ),
    Recording(
        record="provider:llm_balance_runway:days",
        group="llm",
        expr='sum by (host, provider) (llm_provider_balance{currency="USD"})'
        " / on (host, provider) (provider:llm_spend_usd:rate1h * 86400)",
        test=Case({f'llm_provider_balance{{{X},provider="deepseek",currency="USD"}}': "1728x70",
              f'llm_spend_usd_total{{{X},provider="deepseek",model="deepseek-chat",feature="analysis"}}':
              "0+0.6x70"},
             at="65m", samples=(('provider:llm_balance_runway:days{provider="deepseek"}', 2),)),
    ),
]

ALERTS: list[Alert] = [
    Alert(
        name="LlmSpendOverDailyBudget",
        group="llm",
        expr=above("provider:llm_spend_usd:increase1d", T_LLM_DAILY_BUDGET),
        severity="warning",
        summary="LLM spend over the last day is above the daily budget.",
        description="{{ $labels.provider }} spend over 24 h is {{ $value | humanize }} USD.",
        panel=(uids.LLM, "Spend per day (USD)"),
        fire=Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.5x40"}, at="30m", labels={"provider": "deepseek"}, value=15),
        quiet=Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.03x40"}, at="30m"),
        for_="5m",
        meaning="Token usage (cache-miss input, output) costs more than the budget: a prompt grew, a loop "
        "re-analyses chats, or prices changed (the price table is versioned in the exporter).",
        confirm="LLM board: spend by model and feature, tokens by type; `llm_usage` rows of the last hour.",
        fix="Find the feature that spikes; cap it; check cache-hit share (cache-hit input costs ~2% of cache-miss).",
    ),
    Alert(
        name="LlmSpendRateHigh",
        group="llm",
        expr=above("provider:llm_spend_usd:rate15m * 86400", T_LLM_DAILY_BUDGET),
        severity="warning",
        summary="LLM spend over the last 15 minutes runs above the daily budget's pace.",
        description="{{ $labels.provider }} spends at {{ $value | humanize }} USD per day over the last 15 minutes.",
        panel=(uids.LLM, "Spend pace (USD per day, last 15 min)"),
        fire=Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.01x30"}, at="20m", labels={"provider": "deepseek"}, value=14.4),
        quiet=Case({f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.0006x30"}, at="20m"),
        for_="5m",
        meaning="The spend pace of the last 15 minutes, projected over a day, exceeds the budget: the daily "
        "alert would fire hours later.",
        confirm="LLM board: spend by model and feature over the last 15 minutes.",
        fix="As for LlmSpendOverDailyBudget.",
    ),
    Alert(
        name="LlmBalanceRunwayShort",
        group="llm",
        expr=below("provider:llm_balance_runway:days", T_LLM_RUNWAY_DAYS),
        severity="warning",
        summary="The LLM provider balance lasts less than 7 days at the current pace.",
        description="{{ $labels.provider }} balance covers {{ $value | humanize }} more days of spend.",
        panel=(uids.LLM, "Balance runway (days)"),
        fire=Case({f"llm_provider_balance{_x(provider='deepseek', currency='USD')}": "1728x70",
              f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.6x70"}, at="65m", labels={"provider": "deepseek"}, value=2),
        quiet=Case({f"llm_provider_balance{_x(provider='deepseek', currency='USD')}": "6100x70",
              f"llm_spend_usd_total{_x(provider='deepseek', model='deepseek-chat', feature='analysis')}":
              "0+0.6x70"}, at="65m"),
        for_="5m",
        meaning="At the last hour's spend pace the prepaid balance runs out within a week; then every call "
        "gets HTTP 402 Insufficient Balance and chat analysis stops.",
        confirm="DeepSeek console balance; LLM board balance and spend panels.",
        fix="Top up the balance, or reduce spend (see LlmSpendOverDailyBudget).",
    ),
    Alert(
        name="LlmProviderBalanceUnavailable",
        group="llm",
        expr="llm_provider_balance_available == 0",
        severity="critical",
        summary="The LLM provider reports the balance as insufficient for API calls.",
        description="{{ $labels.provider }} reports no available balance: API calls fail with 402.",
        panel=(uids.LLM, "Provider balance"),
        fire=Case({f"llm_provider_balance_available{_x(provider='deepseek')}": "0x10"}),
        quiet=Case({f"llm_provider_balance_available{_x(provider='deepseek')}": "1x10"}), for_="1m",
        meaning="DeepSeek's `/user/balance` says `is_available: false`: every completion returns "
        "402 Insufficient Balance; chats stay unanalysed and drafts are not generated.",
        confirm="`curl -H 'Authorization: Bearer $KEY' https://api.deepseek.com/user/balance`; "
        "analyze_pending_chats failures on the Celery board.",
        fix="Top up the balance now; failed analyses are retried by the next `analyze_pending_chats` runs.",
    ),
    Alert(
        name="ProviderQuotaNearLimit",
        group="llm",
        expr=above("elevenlabs_subscription_characters_used / elevenlabs_subscription_characters_limit", T_QUOTA_RATIO),
        severity="warning",
        summary="A provider subscription quota is nearly used up.",
        description="ElevenLabs has used {{ $value | humanizePercentage }} of its character quota for this period.",
        panel=(uids.LLM, "ElevenLabs quota used"),
        fire=Case({f"elevenlabs_subscription_characters_used{{{X}}}": "95000x10",
              f"elevenlabs_subscription_characters_limit{{{X}}}": "100000x10"},
             labels={"job": "lookout", "instance": "exporters:9808"}, value=0.95),
        quiet=Case({f"elevenlabs_subscription_characters_used{{{X}}}": "90000x10",
              f"elevenlabs_subscription_characters_limit{{{X}}}": "100000x10"}),
        for_="5m",
        meaning="When the quota is exhausted before the next reset, ElevenLabs refuses new conversations: "
        "voice agents stop answering calls.",
        confirm="ElevenLabs > Subscription: usage and reset date (the board shows the next reset).",
        fix="Upgrade the plan or enable usage-based billing before the quota runs out.",
    ),
    Alert(
        name="LlmUnpricedUsage",
        group="llm",
        expr=above("sum by (host, provider, model) (increase(llm_unpriced_calls_total[1h]))", T_UNPRICED_CALLS),
        severity="info",
        summary="LLM calls use a model the price table cannot price.",
        description="{{ $value | humanize }} calls to {{ $labels.provider }} model {{ $labels.model }} in the last "
        "hour were "
        "not priced.",
        panel=(uids.LLM, "Unpriced calls (unknown models)"),
        fire=Case({f"llm_unpriced_calls_total{_x(provider='deepseek', model='deepseek-v9')}": "0+1x70"}, at="65m",
             labels={"provider": "deepseek", "model": "deepseek-v9"}, value=60),
        quiet=Case({f"llm_unpriced_calls_total{_x(provider='deepseek', model='deepseek-v9')}": "3x70"}, at="65m"),
        for_="5m",
        meaning="The application calls a model missing from the versioned price table (a new or renamed model, "
        "such as the retired `deepseek-chat` alias): its spend is counted as tokens but not in USD. "
        "Informational: shown on the LLM board, not sent.",
        confirm="LLM board 'Unpriced calls'; `llm_price_table_info` for the table version.",
        fix="Add the model (or alias) with its effective-from prices to the price table "
        "(exporters/data/prices.yaml) and restart the exporter.",
    ),
]

"""LLM spend (versioned price table), provider balances, runway and quotas."""

from dashboards._lib import board, timeseries
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

SEL = 'instance=~"$instance"'
DASHBOARD = board(
    uids.LLM, "Lookout / LLM spend and providers",
    "Token cost per provider, model and feature; DeepSeek balance and runway; ElevenLabs quota.",
    [
        timeseries("Spend per day (USD)", "USD spent over the last 24 hours, per provider, against the daily budget.",
                   [("provider:llm_spend_usd:increase1d", "{{provider}}")], "currencyUSD", [t.T_LLM_DAILY_BUDGET],
                   w=8),
        timeseries("Spend pace (USD per day, last 15 min)", "Spend rate of the last 15 minutes projected over a day.",
                   [("provider:llm_spend_usd:rate15m * 86400", "{{provider}}")], "currencyUSD",
                   [t.T_LLM_DAILY_BUDGET], w=8),
        timeseries("Balance runway (days)", "Days the provider balance lasts at the last hour's spend pace.",
                   [("provider:llm_balance_runway:days", "{{provider}}")], "d", [t.T_LLM_RUNWAY_DAYS], w=8),
        timeseries("Provider balance", "Balance per provider and currency; available = 0 means API calls get 402.",
                   [(f"llm_provider_balance{{{SEL}}}", "{{provider}} {{currency}}"),
                    (f"llm_provider_balance_available{{{SEL}}}", "{{provider}} available")], "short",
                   [t.T_CREDITS_UNRECONCILED], w=8),
        timeseries("ElevenLabs quota used", "Characters used / character limit of the current subscription period.",
                   [(f"elevenlabs_subscription_characters_used{{{SEL}}}"
                     f" / elevenlabs_subscription_characters_limit{{{SEL}}}", "quota used")],
                   "percentunit", [t.T_QUOTA_RATIO], w=8),
        timeseries("Spend by model and feature", "USD per hour by provider, model and feature.",
                   [(f"sum by (provider, model, feature) (rate(llm_spend_usd_total{{{SEL}}}[$__rate_interval])) * 3600",
                     "{{provider}} {{model}} {{feature}}")], "currencyUSD", [t.T_LLM_DAILY_BUDGET], w=8, stack=True),
        timeseries("Tokens by type", "Tokens per second by type (cache-hit input costs ~2% of cache-miss input).",
                   [(f"sum by (type) (rate(llm_tokens_total{{{SEL}}}[$__rate_interval]))", "{{type}}")], "short",
                   w=16, stack=True),
        timeseries("Unpriced calls (unknown models)", "Calls the price table cannot price, by model, per rate "
                   "interval: their spend is missing from the USD panels.",
                   [(f"sum by (provider, model) (increase(llm_unpriced_calls_total{{{SEL}}}[$__rate_interval]))",
                     "{{provider}} {{model}}")], "short", [t.T_UNPRICED_CALLS], w=8),
    ],
    ("instance", "Exporter", "label_values(llm_spend_usd_total, instance)"),
)

"""LLM spend (versioned price table), provider balances, runway and quotas."""

from lookout.dashboards._lib import Board, board, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx

SEL = 'instance=~"$instance"'
REQUIRES = {
    "Spend per day (USD)": ("llm_spend",), "Spend pace (USD per day, last 15 min)": ("llm_spend",),
    "Balance runway (days)": ("deepseek", "llm_spend"), "Provider balance": ("deepseek",),
    "ElevenLabs quota used": ("elevenlabs",), "Spend by model and feature": ("llm_spend",),
    "Tokens by type": ("llm_spend",), "Unpriced calls (unknown models)": ("llm_spend",),
}


def build(k: Ctx) -> Board | None:
    if not k.has("llm_spend|deepseek|elevenlabs"):
        return None
    t = k.t
    return board(
        k,
        uids.LLM, "Lookout / LLM spend and providers",
        "Token cost per provider, model and feature; DeepSeek balance and runway; ElevenLabs quota.",
        [
            timeseries("Spend per day (USD)",
                       "USD spent over the last 24 hours, per provider, against the daily budget.",
                       [("provider:lookout_llm_spend_usd:increase1d", "{{provider}}")], "currencyUSD",
                       [t.llm_daily_budget_usd],
                       w=8),
            timeseries("Spend pace (USD per day, last 15 min)",
                       "Spend rate of the last 15 minutes projected over a day.",
                       [("provider:lookout_llm_spend_usd:rate15m * 86400", "{{provider}}")], "currencyUSD",
                       [t.llm_daily_budget_usd], w=8),
            timeseries("Balance runway (days)", "Days the provider balance lasts at the last hour's spend pace.",
                       [("provider:lookout_llm_balance_runway:days", "{{provider}}")], "d",
                       [t.llm_runway_days], w=8),
            timeseries("Provider balance", "Balance per provider and currency; available = 0 means API calls get 402.",
                       [(f"lookout_llm_provider_balance{{{SEL}}}", "{{provider}} {{currency}}"),
                        (f"lookout_llm_provider_balance_available{{{SEL}}}", "{{provider}} available")], "short",
                       [t.credits_unreconciled], w=8),
            timeseries("ElevenLabs quota used", "Characters used / character limit of the current subscription period.",
                       [(f"lookout_elevenlabs_subscription_characters_used{{{SEL}}}"
                         f" / lookout_elevenlabs_subscription_characters_limit{{{SEL}}}", "quota used")],
                       "percentunit", [t.provider_quota_ratio], w=8),
            timeseries("Spend by model and feature", "USD per hour by provider, model and feature.",
                       [("sum by (provider, model, feature) "
                         f"(rate(lookout_llm_spend_usd_total{{{SEL}}}[$__rate_interval])) * 3600",
                         "{{provider}} {{model}} {{feature}}")], "currencyUSD", [t.llm_daily_budget_usd], w=8,
                             stack=True),
            timeseries("Tokens by type", "Tokens per second by type (cache-hit input costs ~2% of cache-miss input).",
                       [(f"sum by (type) (rate(lookout_llm_tokens_total{{{SEL}}}[$__rate_interval]))", "{{type}}")],
                       "short",
                       w=16, stack=True),
            timeseries("Unpriced calls (unknown models)", "Calls the price table cannot price, by model, per rate "
                       "interval: their spend is missing from the USD panels. 'totals a lower bound' is 1 while "
                       "usage rows may be missing from the totals (max_watched_ids reached).",
                       [("sum by (provider, model) "
                         f"(increase(lookout_llm_unpriced_calls_total{{{SEL}}}[$__rate_interval]))",
                         "{{provider}} {{model}}"),
                        (f"lookout_llm_usage_totals_lower_bound{{{SEL}}}", "totals a lower bound")],
                       "short", [t.llm_unpriced_calls], w=8),
        ],
        ("instance", "Exporter", "label_values(lookout_llm_spend_usd_total, instance)"), requires=REQUIRES,
    )

"""DeepSeek account balance: the money left before the API answers 402 Insufficient Balance.

Reads: ``GET {base_url}/user/balance`` with ``Authorization: Bearer <api_key>``; the answer is
``{"is_available": bool, "balance_infos": [{"currency", "total_balance", "granted_balance",
"topped_up_balance"}]}`` with amounts as strings, one entry per currency.
Publishes: ``lookout_llm_provider_balance{provider,currency}``, ``lookout_llm_provider_balance_available{provider}``,
and the API's health as seen by the exporter: ``lookout_llm_provider_api_up{provider}`` and
``lookout_llm_provider_api_last_status_code{provider}`` (so a 401 or 402 shows even while the collector itself is up),
``lookout_llm_provider_api_responses_total{provider,code}``.

An HTTP error answer (401, 402, 429, 5xx) is a successful refresh that reports the status and no balance; a
402 Insufficient Balance also sets ``lookout_llm_provider_balance_available`` to 0 (that is what it says, and the
page on it must keep firing). A connection failure, a timeout, an oversized or unparseable body, a redirect
to another host, or a ``Retry-After`` longer than a refresh (``lookout_llm_provider_api_retry_after_seconds``) fails
the refresh (``lookout_collector_up`` 0, counted in ``lookout_collector_errors_total``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Collector, Snapshot, gauge
from lookout.exporters.collectors._http import PROVIDER_METRICS, ApiHealth, HttpClient, HttpSettings

INSUFFICIENT_BALANCE = 402  # DeepSeek's answer to any call once the balance cannot pay for it


class BalanceError(ValueError):
    """The balance answer does not have the documented shape."""


def parse_balance(data: Any) -> tuple[bool, dict[str, Decimal]]:
    """``(is_available, {currency: total_balance})`` from a ``/user/balance`` answer."""
    if not isinstance(data, dict) or not isinstance(data.get("balance_infos"), list):
        raise BalanceError("answer has no balance_infos list")
    available = data.get("is_available")
    if not isinstance(available, bool):
        raise BalanceError("answer has no boolean is_available")
    balances: dict[str, Decimal] = {}
    for info in data["balance_infos"]:
        if not isinstance(info, dict):
            raise BalanceError("balance_infos entry is not an object")
        currency = str(info.get("currency") or "").upper()
        if not currency.isalpha() or len(currency) > 5:
            raise BalanceError("balance_infos entry has no valid currency")
        try:
            balances[currency] = Decimal(str(info.get("total_balance")))
        except InvalidOperation:
            raise BalanceError(f"{currency}: total_balance is not a number") from None
        if not balances[currency].is_finite():
            raise BalanceError(f"{currency}: total_balance is not a number")
    return available, balances


@dataclass(kw_only=True)
class DeepSeekSettings(HttpSettings):
    interval: Duration = setting(
        Duration(300),
        help="How often the balance is read. DeepSeek documents no request-rate limit for this endpoint; "
        "5 minutes is plenty for a balance that drains over hours.",
    )
    base_url: str = setting("https://api.deepseek.com", help="API root (no `/v1`).")
    provider: str = setting("deepseek", help="Value of the `provider` label.")


class DeepSeekCollector(Collector[DeepSeekSettings]):
    name = "deepseek"
    Settings = DeepSeekSettings
    summary = (
        "Reads the DeepSeek account balance (`GET /user/balance`, one entry per currency) and whether the "
        "account may still call the API, so an empty balance is seen before the 402 answers take the "
        "product down. Also reports the HTTP status of the last call (401 bad key, 402, 429)."
    )
    example = """
deepseek:
  api_key: ${DEEPSEEK_API_KEY}
  interval: 5m
"""
    metrics = (
        gauge("lookout_llm_provider_balance",
              "Total balance of the provider account (granted plus topped up), in currency.",
              "provider", "currency"),
        gauge("lookout_llm_provider_balance_available",
              "1 if the provider says the balance allows API calls (DeepSeek is_available); 0 also on HTTP 402.",
              "provider"),
        *PROVIDER_METRICS,
    )

    def __init__(self, settings: DeepSeekSettings):
        super().__init__(settings)
        self.client = HttpClient.from_settings(
            settings.base_url, {"Authorization": f"Bearer {settings.api_key}"}, settings, stop=threading.Event()
        )
        self.health = ApiHealth(settings.provider, self.client)

    def refresh(self, snap: Snapshot) -> None:
        p = self.settings.provider
        try:
            result = self.client.get_json("/user/balance")
        except Exception:
            self.health.up = False
            raise
        if result.data is None:
            self.health.record(result, ok=False)
            self.health.emit(snap)
            snap.declare("lookout_llm_provider_balance")
            if result.status == INSUFFICIENT_BALANCE:
                snap.add("lookout_llm_provider_balance_available", 0, provider=p)
            self.health.raise_if_throttled()
            return
        try:
            available, balances = parse_balance(result.data)
        except BalanceError as exc:
            self.health.record(result, ok=False)
            raise BalanceError(f"GET /user/balance: {exc}") from None
        self.health.record(result, ok=True)
        self.health.emit(snap)
        snap.add("lookout_llm_provider_balance_available", 1 if available else 0, provider=p)
        snap.declare("lookout_llm_provider_balance")
        for currency, amount in sorted(balances.items()):
            snap.add("lookout_llm_provider_balance", float(amount), provider=p, currency=currency)

    def stop(self) -> None:
        self.client.close()


COLLECTOR = DeepSeekCollector

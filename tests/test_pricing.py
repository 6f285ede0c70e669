"""The price table: effective dates, peak/off-peak windows, aliases of retired models, unknown models, validation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lookout.exporters.pricing import PriceError, PriceTable, Rates


def t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


TABLE = {
    "version": "test",
    "providers": {
        "acme": {
            "timezone": "+08:00",
            "holidays": ["2026-10-01..2026-10-02"],
            "models": {
                "a-1": [
                    {"from": "2026-01-01T00:00:00Z", "prices": {"input_cache_hit": 1, "input_cache_miss": 10,
                                                               "output": 20}},
                    {"from": "2026-03-01T16:00:00Z", "prices": {"input_cache_hit": "0.5", "input_cache_miss": 5,
                                                               "output": 10},
                     "windows": [{"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                                  "end": "12:00", "factor": 2, "skip_holidays": True}]},
                    {"from": "2026-06-01T00:00:00Z", "retired": True},
                ],
                "b-2": [
                    {"from": "2026-01-01T00:00:00Z", "prices": {"input_cache_hit": 0, "input_cache_miss": 1,
                                                               "output": 2},
                     "windows": [{"name": "night", "start": "22:00", "end": "02:00",
                                  "prices": {"input_cache_hit": 0, "input_cache_miss": 0.5, "output": 1}}]},
                ],
            },
            "aliases": {
                "a-1": [{"from": "2026-06-01T00:00:00Z", "to": "b-2"}],
                "a-latest": [{"from": "2026-01-01T00:00:00Z", "to": "a-1"},
                             {"from": "2026-07-01T00:00:00Z", "to": None}],
            },
        }
    },
}


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.from_dict(TABLE)


def miss_price(table: PriceTable, model: str, at: str) -> Decimal | None:
    found = table.rates("acme", model, t(at))
    return None if found is None else found[1].input_cache_miss


def test_price_changes_at_effective_date(table):
    assert miss_price(table, "a-1", "2026-03-01T15:59:59Z") == 10
    assert miss_price(table, "a-1", "2026-03-01T16:00:00Z") == 5  # Sunday 00:00 local: off-peak base
    assert miss_price(table, "a-1", "2025-12-31T23:59:59Z") is None  # before the first period: unpriced


def test_peak_off_peak_boundaries(table):
    # Monday 2026-03-02, window 09:00-12:00 at +08:00 = 01:00-04:00 UTC, factor 2
    assert miss_price(table, "a-1", "2026-03-02T00:59:59Z") == 5
    assert miss_price(table, "a-1", "2026-03-02T01:00:00Z") == 10
    assert miss_price(table, "a-1", "2026-03-02T03:59:59Z") == 10
    assert miss_price(table, "a-1", "2026-03-02T04:00:00Z") == 5
    assert miss_price(table, "a-1", "2026-03-07T02:00:00Z") == 5  # Saturday: no peak


def test_window_crossing_midnight(table):
    # night window 22:00-02:00 local (+08:00) every day = 14:00-18:00 UTC
    assert miss_price(table, "b-2", "2026-02-02T13:59:00Z") == 1
    assert miss_price(table, "b-2", "2026-02-02T14:00:00Z") == Decimal("0.5")
    assert miss_price(table, "b-2", "2026-02-02T17:59:00Z") == Decimal("0.5")  # 01:59 local, the next day
    assert miss_price(table, "b-2", "2026-02-02T18:00:00Z") == 1


def test_holidays_skip_peak():
    # make a-1 priced in October through a copy of the table without the retirement
    models = dict(TABLE["providers"]["acme"]["models"])
    models["a-1"] = models["a-1"][:2]
    data = {"providers": {"acme": {**TABLE["providers"]["acme"], "models": models, "aliases": {}}}}
    table = PriceTable.from_dict(data)
    assert miss_price(table, "a-1", "2026-10-01T02:00:00Z") == 5  # Thursday, holiday: off-peak
    assert miss_price(table, "a-1", "2026-10-05T02:00:00Z") == 10  # Monday: peak


def test_alias_of_retired_model(table):
    assert table.resolve("acme", "a-1", t("2026-05-31T23:59:59Z")) == "a-1"
    assert table.resolve("acme", "a-1", t("2026-06-01T00:00:00Z")) == "b-2"
    assert miss_price(table, "a-1", "2026-06-02T12:00:00Z") == 1
    # an alias chain, then the alias itself is retired
    assert table.resolve("acme", "a-latest", t("2026-02-01T00:00:00Z")) == "a-1"
    assert table.resolve("acme", "a-latest", t("2026-06-10T00:00:00Z")) == "b-2"
    assert table.rates("acme", "a-latest", t("2026-07-01T00:00:00Z")) is None


def test_unknown_model_and_provider_are_unpriced(table):
    assert table.rates("acme", "nope", t("2026-03-02T00:00:00Z")) is None
    assert table.cost("other", "a-1", t("2026-03-02T00:00:00Z"), 1, 1, 1) is None
    assert not table.known("acme", "nope")
    assert table.known("acme", "a-latest") and table.known("acme", "b-2")


def test_cost_is_exact_decimal(table):
    cost = table.cost("acme", "a-1", t("2026-02-01T00:00:00Z"), hit=1_000_000, miss=3, out=7)
    assert cost == Decimal(1) + Decimal(30 + 140) / Decimal(1_000_000)
    parts = sum((table.cost("acme", "a-1", t("2026-02-01T00:00:00Z"), 1, 1, 1) for _ in range(1000)), Decimal(0))
    assert parts == table.cost("acme", "a-1", t("2026-02-01T00:00:00Z"), 1000, 1000, 1000)
    assert Rates(Decimal(1), Decimal(2), Decimal(3)).scaled(Decimal(2)).output == 6


def test_shipped_table_cases():
    table = PriceTable.load()
    assert table.version
    # deepseek-chat: V3.2 price, then alias of deepseek-v4-flash, then retired (2026-07-24)
    assert table.rates("deepseek", "deepseek-chat", t("2026-01-15T00:00:00Z"))[1].input_cache_miss == Decimal("0.28")
    assert table.resolve("deepseek", "deepseek-chat", t("2026-05-01T00:00:00Z")) == "deepseek-v4-flash"
    assert table.rates("deepseek", "deepseek-chat", t("2026-08-01T00:00:00Z")) is None
    # peak/off-peak from 2026-08-16 16:00 UTC; Monday 2026-11-16 02:00 UTC is peak (10:00 Beijing)
    flash = "deepseek-flash"
    peak = table.rates("deepseek", flash, t("2026-11-16T02:00:00Z"))[1]
    off = table.rates("deepseek", flash, t("2026-11-16T04:00:00Z"))[1]
    assert peak.input_cache_miss == 2 * off.input_cache_miss
    assert off.input_cache_hit / off.input_cache_miss == Decimal("0.02")  # cache hit ~2% of cache miss
    # the retired deepseek-v4-flash name is billed as deepseek-flash
    assert table.resolve("deepseek", "deepseek-v4-flash", t("2026-10-10T00:00:00Z")) == flash
    # National Day holiday: no peak on a Thursday
    assert table.rates("deepseek", flash, t("2026-10-01T02:00:00Z"))[1] == off


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"from": "2026-03-01T16:05:00Z"}, "15-minute boundary"),
        ({"from": "2025-01-01T00:00:00Z"}, "increasing order"),
        ({"prices": {"input_cache_hit": 1, "input_cache_miss": 1}}, "output: required"),
        ({"prices": {"input_cache_hit": 1, "input_cache_miss": -1, "output": 1}}, "non-negative"),
        ({"colour": "red"}, "unknown key"),
        ({"windows": [{"start": "09:10", "end": "12:00", "factor": 2}]}, "15-minute boundary"),
        ({"windows": [{"start": "09:00", "end": "12:00"}]}, "either prices or factor"),
    ],
)
def test_invalid_tables_name_the_key(patch, message):
    periods = [dict(p) for p in TABLE["providers"]["acme"]["models"]["a-1"]]
    periods[1] = {**periods[1], **patch}
    data = {"providers": {"acme": {**TABLE["providers"]["acme"],
                                   "models": {**TABLE["providers"]["acme"]["models"], "a-1": periods}}}}
    with pytest.raises(PriceError, match=message) as exc:
        PriceTable.from_dict(data)
    assert "providers.acme.models.a-1[1]" in str(exc.value)


def test_invalid_aliases():
    acme = TABLE["providers"]["acme"]
    with pytest.raises(PriceError, match="unknown model 'zzz'"):
        PriceTable.from_dict({"providers": {"acme": {**acme, "aliases": {"x": "zzz"}}}})
    with pytest.raises(PriceError, match="loop"):
        PriceTable.from_dict({"providers": {"acme": {**acme, "aliases": {"x": "y", "y": "x"}}}})
    with pytest.raises(PriceError, match="only USD"):
        PriceTable.from_dict({"currency": "CNY", "providers": {"acme": acme}})


def test_load_errors(tmp_path):
    with pytest.raises(PriceError, match="cannot read"):
        PriceTable.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [\n")
    with pytest.raises(PriceError, match="invalid YAML"):
        PriceTable.load(bad)
    # read like the configuration: a repeated key, non-UTF-8 text and a huge file are one-line errors
    bad.write_text("currency: USD\ncurrency: USD\n")
    with pytest.raises(PriceError, match="duplicate key 'currency'"):
        PriceTable.load(bad)
    bad.write_bytes(b"currency: \xff\n")
    with pytest.raises(PriceError, match="not UTF-8"):
        PriceTable.load(bad)
    bad.write_text("# " + "x" * (2 << 20))
    with pytest.raises(PriceError, match="larger than"):
        PriceTable.load(bad)


def test_rates_in_bucket_matches_rates(table):
    from lookout.exporters.pricing import GRANULARITY_SECONDS

    for at in ("2026-03-02T00:45:00Z", "2026-03-02T01:00:00Z", "2026-06-01T00:00:00Z", "2025-01-01T00:00:00Z"):
        bucket = int(t(at).timestamp()) // GRANULARITY_SECONDS
        fresh = PriceTable.from_dict(TABLE)  # empty cache: computed from the bucket's start
        a, b = fresh.rates_in_bucket("acme", "a-1", bucket), table.rates("acme", "a-1", t(at))
        assert (a and (a[0], a[1].values())) == (b and (b[0], b[1].values()))


def test_an_error_quoting_a_huge_or_multiline_value_is_one_bounded_line():
    """A refused value is echoed cut at 1,000 characters with its length, control characters escaped."""
    acme = TABLE["providers"]["acme"]
    for currency in ("X" * 100_000, "USD\nERROR injected line"):
        with pytest.raises(PriceError, match="only USD") as exc:
            PriceTable.from_dict({"currency": currency, "providers": {"acme": acme}})
        message = str(exc.value)
        assert "\n" not in message and len(message) < 1100
        assert message.endswith(" characters)") == (len(currency) > 1000)

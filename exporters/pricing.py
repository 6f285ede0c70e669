"""LLM price table: loads the versioned YAML table and prices token usage. Pure: no I/O but reading the file.

Reads: ``exporters/data/prices.yaml`` (shipped) or another file of the same format (``docs/llm_spend.md``).
Publishes: ``PriceTable.load()``, ``PriceTable.rates()`` (USD per million tokens for one provider, model and
instant, following time-dependent aliases and peak/off-peak windows), ``PriceTable.cost()`` (exact ``Decimal``
USD for a call), ``PriceTable.known()`` and ``PriceError`` (one line naming the place in the file).

Every price boundary (``from``, ``until``, window edges, holiday edges) must fall on a multiple of
``GRANULARITY_SECONDS`` (15 minutes): the llm_spend collector may then aggregate usage per 15-minute bucket
in SQL and price each bucket at its start, with the same result as pricing every row at its own time.
Amounts are ``Decimal`` so that totals do not depend on the order of summation (a recomputation after a
restart gives exactly the same counters, never a tiny decrease that Prometheus would read as a reset).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lookout.exporters import binding

GRANULARITY_SECONDS = 900
DEFAULT_PATH = Path(__file__).parent / "data" / "prices.yaml"
TOKEN_TYPES = ("input_cache_hit", "input_cache_miss", "output")
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_MILLION = Decimal(1_000_000)
_MISSING = object()


class PriceError(ValueError):
    """The price table is invalid; the message names the key path, as one bounded line (``binding.one_line``:
    a quoted value may be a megabyte, or hold a newline)."""

    def __init__(self, message: str):
        super().__init__(binding.one_line(message))


@dataclass(frozen=True, eq=False)
class Rates:
    """USD per million tokens. Compared and hashed by identity: each is built once, when the table loads."""

    input_cache_hit: Decimal
    input_cache_miss: Decimal
    output: Decimal

    def cost(self, hit: int, miss: int, out: int) -> Decimal:
        return (hit * self.input_cache_hit + miss * self.input_cache_miss + out * self.output) / _MILLION

    def values(self) -> tuple[Decimal, Decimal, Decimal]:
        return (self.input_cache_hit, self.input_cache_miss, self.output)

    def scaled(self, factor: Decimal) -> Rates:
        return Rates(self.input_cache_hit * factor, self.input_cache_miss * factor, self.output * factor)


@dataclass(frozen=True)
class Window:
    """A time-of-day window (provider-local time) with its own rates, e.g. peak or off-peak hours."""

    name: str
    days: frozenset[int]
    start: int  # minutes after local midnight
    end: int  # exclusive; end <= start means the window crosses midnight
    rates: Rates
    skip_holidays: bool

    def contains(self, local: datetime, holiday: bool) -> bool:
        if holiday and self.skip_holidays:
            return False
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= minute < self.end
        # crossing midnight: the part after midnight belongs to the previous day's window
        if minute >= self.start:
            return local.weekday() in self.days
        return minute < self.end and (local.weekday() - 1) % 7 in self.days


@dataclass(frozen=True)
class Period:
    start: datetime
    rates: Rates | None  # None: the model is retired from ``start`` on (unpriced unless aliased)
    windows: tuple[Window, ...] = ()


@dataclass(frozen=True)
class AliasPeriod:
    start: datetime
    target: str | None  # None: the alias no longer exists from ``start`` on


@dataclass
class ProviderPrices:
    tz: timezone
    holidays: frozenset[date]
    models: dict[str, list[Period]]
    aliases: dict[str, list[AliasPeriod]]


class PriceTable:
    def __init__(self, version: str, providers: dict[str, ProviderPrices], source: str = ""):
        self.version = version
        self.providers = providers
        self.source = source
        self._cache: dict[tuple[str, str, int], tuple[str, Rates] | None] = {}

    # -- loading ---------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        p = Path(path) if path else DEFAULT_PATH
        try:  # the configuration's reader: bounded size and depth, UTF-8, no repeated key
            data = binding.parse_yaml(binding.read_config_bytes(p), str(p))
        except binding.ConfigError as exc:
            raise PriceError(str(exc)) from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> PriceTable:
        where = source or "price table"
        if not isinstance(data, dict):
            raise PriceError(f"{where}: expected a mapping at the top level")
        currency = data.get("currency", "USD")
        if currency != "USD":
            raise PriceError(f"{where}: currency: only USD is supported, got {currency!r}")
        providers_raw = data.get("providers")
        if not isinstance(providers_raw, dict) or not providers_raw:
            raise PriceError(f"{where}: providers: expected a non-empty mapping")
        providers = {
            str(name): _provider(raw, f"providers.{name}") for name, raw in providers_raw.items()
        }
        return cls(str(data.get("version", "")), providers, source)

    # -- lookups ---------------------------------------------------------------------------------------------
    def known(self, provider: str, model: str) -> bool:
        """True if the table lists ``model`` (as a model or an alias) for ``provider``."""
        p = self.providers.get(provider)
        return p is not None and (model in p.models or model in p.aliases)

    def models(self, provider: str) -> list[str]:
        p = self.providers.get(provider)
        return sorted({*p.models, *p.aliases}) if p else []

    def resolve(self, provider: str, model: str, at: datetime) -> str | None:
        """The model whose prices apply to ``model`` at ``at`` (aliases followed), or None if unknown."""
        p = self.providers.get(provider)
        if p is None:
            return None
        seen: set[str] = set()
        while model not in seen:
            seen.add(model)
            alias = _latest(p.aliases.get(model, []), at)
            if alias is not None:
                if alias.target is None:
                    return None
                model = alias.target
                continue
            return model if model in p.models else None
        return None  # alias loop (rejected at load, kept as a guard)

    def rates(self, provider: str, model: str, at: datetime) -> tuple[str, Rates] | None:
        """``(priced model, rates)`` for a call at ``at``, or None if unpriced (unknown, retired, before pricing)."""
        key = (provider, model, int(at.timestamp()) // GRANULARITY_SECONDS)
        if key in self._cache:
            return self._cache[key]
        result = self._rates(provider, model, at)
        if len(self._cache) > 200_000:  # bounded: buckets are 15 minutes, so this is years of models
            self._cache.clear()
        self._cache[key] = result
        return result

    def rates_in_bucket(self, provider: str, model: str, bucket: int) -> tuple[str, Rates] | None:
        """``rates()`` for the 15-minute bucket number ``bucket`` (Unix time // GRANULARITY_SECONDS)."""
        found = self._cache.get((provider, model, bucket), _MISSING)
        if found is _MISSING:
            return self.rates(provider, model, datetime.fromtimestamp(bucket * GRANULARITY_SECONDS, UTC))
        return found  # type: ignore[return-value]

    def _rates(self, provider: str, model: str, at: datetime) -> tuple[str, Rates] | None:
        target = self.resolve(provider, model, at)
        if target is None:
            return None
        p = self.providers[provider]
        period = _latest(p.models[target], at)
        if period is None or period.rates is None:
            return None
        if period.windows:
            local = at.astimezone(p.tz)
            holiday = local.date() in p.holidays
            for w in period.windows:
                if w.contains(local, holiday):
                    return target, w.rates
        return target, period.rates

    def cost(self, provider: str, model: str, at: datetime, hit: int, miss: int, out: int) -> Decimal | None:
        found = self.rates(provider, model, at)
        return None if found is None else found[1].cost(hit, miss, out)


def _latest(periods: list[Any], at: datetime) -> Any:
    i = bisect.bisect_right(periods, at, key=lambda p: p.start)
    return periods[i - 1] if i else None


# -- parsing ------------------------------------------------------------------------------------------------
_TZ_RE = re.compile(r"^(UTC)?([+-])(\d\d):(\d\d)$|^UTC$")


def _tz(value: Any, path: str) -> timezone:
    s = str(value or "UTC").strip()
    m = _TZ_RE.match(s)
    if not m:
        raise PriceError(f"{path}: expected a fixed UTC offset such as +08:00, got {s!r}")
    if s == "UTC":
        return UTC
    minutes = int(m.group(3)) * 60 + int(m.group(4))
    if minutes % 15:
        raise PriceError(f"{path}: the offset must be a multiple of 15 minutes")
    return timezone(timedelta(minutes=minutes if m.group(2) == "+" else -minutes))


def _instant(value: Any, path: str) -> datetime:
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PriceError(f"{path}: expected a timestamp such as 2026-08-16T16:00:00Z, got {value!r}") from None
        dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    else:
        raise PriceError(f"{path}: expected a timestamp such as 2026-08-16T16:00:00Z, got {value!r}")
    dt = dt.astimezone(UTC)
    if int(dt.timestamp()) % GRANULARITY_SECONDS:
        raise PriceError(f"{path}: {dt.isoformat()} is not on a 15-minute boundary")
    return dt


def _price(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PriceError(f"{path}: expected a price in USD per million tokens, got {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise PriceError(f"{path}: expected a price in USD per million tokens, got {value!r}") from None
    if d < 0 or not d.is_finite():
        raise PriceError(f"{path}: a price must be a non-negative number")
    return d


def _known_keys(raw: dict[Any, Any], known: Iterable[str], path: str) -> None:
    unknown = sorted(map(str, set(raw) - set(known)))
    if unknown:
        raise PriceError(f"{path}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def _rates(raw: Any, path: str) -> Rates:
    if not isinstance(raw, dict):
        raise PriceError(f"{path}: expected a mapping of {', '.join(TOKEN_TYPES)}")
    _known_keys(raw, TOKEN_TYPES, path)
    missing = [t for t in TOKEN_TYPES if t not in raw]
    if missing:
        raise PriceError(f"{path}.{missing[0]}: required key is missing")
    return Rates(*(_price(raw[t], f"{path}.{t}") for t in TOKEN_TYPES))


def _minutes(value: Any, path: str) -> int:
    m = re.fullmatch(r"(\d\d):(\d\d)", str(value))
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise PriceError(f"{path}: expected HH:MM, got {value!r}")
    minutes = int(m.group(1)) * 60 + int(m.group(2))
    if minutes % 15 or minutes > 24 * 60:
        raise PriceError(f"{path}: window edges must be on a 15-minute boundary")
    return minutes % (24 * 60)


def _window(raw: Any, base: Rates, path: str) -> Window:
    if not isinstance(raw, dict):
        raise PriceError(f"{path}: expected a mapping")
    _known_keys(raw, ("name", "days", "start", "end", "prices", "factor", "skip_holidays"), path)
    days_raw = raw.get("days", list(_DAYS))
    if not isinstance(days_raw, list) or not days_raw:
        raise PriceError(f"{path}.days: expected a list such as [mon, tue, wed, thu, fri]")
    days = set()
    for d in days_raw:
        if str(d).lower() not in _DAYS:
            raise PriceError(f"{path}.days: unknown day {d!r} (use mon..sun)")
        days.add(_DAYS[str(d).lower()])
    start, end = _minutes(raw.get("start"), f"{path}.start"), _minutes(raw.get("end"), f"{path}.end")
    if start == end:
        raise PriceError(f"{path}: start and end are equal")
    if ("prices" in raw) == ("factor" in raw):
        raise PriceError(f"{path}: give either prices or factor")
    rates = _rates(raw["prices"], f"{path}.prices") if "prices" in raw else base.scaled(
        _price(raw["factor"], f"{path}.factor")
    )
    return Window(str(raw.get("name", "window")), frozenset(days), start, end, rates, bool(raw.get("skip_holidays")))


def _periods(raw: Any, path: str) -> list[Period]:
    if not isinstance(raw, list) or not raw:
        raise PriceError(f"{path}: expected a non-empty list of price periods")
    out: list[Period] = []
    for i, item in enumerate(raw):
        ip = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise PriceError(f"{ip}: expected a mapping")
        _known_keys(item, ("from", "prices", "windows", "retired", "source", "note"), ip)
        if "from" not in item:
            raise PriceError(f"{ip}.from: required key is missing")
        start = _instant(item["from"], f"{ip}.from")
        if item.get("retired"):
            if "prices" in item or "windows" in item:
                raise PriceError(f"{ip}: a retired period has no prices")
            out.append(Period(start, None))
            continue
        if "prices" not in item:
            raise PriceError(f"{ip}.prices: required key is missing")
        base = _rates(item["prices"], f"{ip}.prices")
        windows_raw = item.get("windows") or []
        if not isinstance(windows_raw, list):
            raise PriceError(f"{ip}.windows: expected a list")
        windows = tuple(_window(w, base, f"{ip}.windows[{j}]") for j, w in enumerate(windows_raw))
        out.append(Period(start, base, windows))
    _check_order(out, path)
    return out


def _aliases(raw: Any, path: str) -> list[AliasPeriod]:
    if isinstance(raw, str):  # shorthand: an alias for all time
        return [AliasPeriod(datetime(1970, 1, 1, tzinfo=UTC), raw)]
    if not isinstance(raw, list) or not raw:
        raise PriceError(f"{path}: expected a model name or a list of {{from, to}}")
    out = []
    for i, item in enumerate(raw):
        ip = f"{path}[{i}]"
        if not isinstance(item, dict) or "from" not in item or "to" not in item:
            raise PriceError(f"{ip}: expected a mapping with from and to (to: null ends the alias)")
        _known_keys(item, ("from", "to", "source", "note"), ip)
        target = item["to"]
        out.append(AliasPeriod(_instant(item["from"], f"{ip}.from"), None if target is None else str(target)))
    _check_order(out, path)
    return out


def _check_order(items: list[Any], path: str) -> None:
    for i, (a, b) in enumerate(itertools.pairwise(items), start=1):
        if b.start <= a.start:
            raise PriceError(f"{path}[{i}].from: periods must be listed in increasing order of from")


def _holidays(raw: Any, tz: timezone, path: str) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise PriceError(f"{path}: expected a list of dates or ranges such as 2026-10-01..2026-10-07")
    if tz.utcoffset(None).total_seconds() % GRANULARITY_SECONDS:  # pragma: no cover - _tz already checks
        raise PriceError(f"{path}: holidays need a timezone on a 15-minute offset")
    out: set[date] = set()
    for i, item in enumerate(raw):
        text = item.isoformat() if isinstance(item, date) else str(item)
        first, _, last = text.partition("..")
        try:
            a = date.fromisoformat(first.strip())
            b = date.fromisoformat(last.strip()) if last else a
        except ValueError:
            raise PriceError(f"{path}[{i}]: expected a date or a range such as 2026-10-01..2026-10-07") from None
        if b < a:
            raise PriceError(f"{path}[{i}]: the range ends before it starts")
        while a <= b:
            out.add(a)
            a += timedelta(days=1)
    return frozenset(out)


def _provider(raw: Any, path: str) -> ProviderPrices:
    if not isinstance(raw, dict):
        raise PriceError(f"{path}: expected a mapping")
    _known_keys(raw, ("timezone", "holidays", "models", "aliases", "source", "note"), path)
    tz = _tz(raw.get("timezone"), f"{path}.timezone")
    models_raw = raw.get("models") or {}
    if not isinstance(models_raw, dict):
        raise PriceError(f"{path}.models: expected a mapping of model name to price periods")
    models = {str(m): _periods(v, f"{path}.models.{m}") for m, v in models_raw.items()}
    aliases_raw = raw.get("aliases") or {}
    if not isinstance(aliases_raw, dict):
        raise PriceError(f"{path}.aliases: expected a mapping of alias to target model")
    aliases = {str(a): _aliases(v, f"{path}.aliases.{a}") for a, v in aliases_raw.items()}
    for a, periods in aliases.items():
        for i, ap in enumerate(periods):
            if ap.target is not None and ap.target not in models and ap.target not in aliases:
                raise PriceError(f"{path}.aliases.{a}[{i}].to: unknown model {ap.target!r}")
    prices = ProviderPrices(tz, _holidays(raw.get("holidays"), tz, f"{path}.holidays"), models, aliases)
    _check_loops(prices, path)
    return prices


def _check_loops(p: ProviderPrices, path: str) -> None:
    for start in p.aliases:
        seen, stack = set(), [start]
        while stack:
            name = stack.pop()
            if name in seen:
                if name == start:
                    raise PriceError(f"{path}.aliases.{start}: aliases form a loop")
                continue
            seen.add(name)
            stack.extend(ap.target for ap in p.aliases.get(name, []) if ap.target)

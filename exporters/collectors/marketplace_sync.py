"""Marketplace synchronisation health of the chat center (Wildberries/Ozon, synced every 30 s).

Reads (PostgreSQL, reference schema ``exporters/schemas/chatcenter.sql``): ``sync_state`` (one row
per seller, marketplace and kind, written by the ``sync_all_sellers`` task) joined to its active
seller and active marketplace account on the seller id (the tenant), and the token expiries of
``seller_marketplace_accounts`` (``seller_accounts_expiry_idx``).
Publishes, per marketplace and kind: the worst lag across active sellers, the sellers stale
beyond each configured threshold, the sellers with repeated sync errors; per marketplace: the
earliest token expiry and the tokens expired or expiring within a horizon. Zeros are published
for every configured marketplace and kind so every series exists. No seller id is a label.

Lag of a seller = ``now - last_success_at``, or ``now - sellers.created_at`` when it never
succeeded; stale beyond T when that lag is ``> T``.

Whether a counted row's account is active is asked one of two ways, chosen at the first refresh and again
every ``sellers_interval`` from the catalog: with a validated foreign key from ``sync_state (seller_id,
marketplace)`` to the accounts (the reference schema's), every row has its account, so "not inactive" is
"active" and the few inactive accounts are hashed once per statement; without one, each row's account is
probed (a row with no account row counts nowhere).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Snapshot, gauge
from lookout.exporters.collectors._pg import PgCollector, PgSettings, number, require

_ACTIVE = """
FROM sync_state s
JOIN sellers sl ON sl.id = s.seller_id AND sl.is_active
JOIN seller_marketplace_accounts a
  ON a.seller_id = s.seller_id AND a.marketplace = s.marketplace AND a.is_active"""

_SINCE = "COALESCE(s.last_success_at, sl.created_at)"

# The metric queries read index ranges, never the whole of sync_state: the (marketplace, kind) groups by a
# loose index scan (one probe each), then per group only the rows that matter (the oldest success, the never
# synced, the stale, the erroring), as index-only scans (the indexes carry `seller_id`). Whether a row's seller
# is active is asked of the few inactive sellers (`sellers_inactive_idx`), hashed once per statement (every
# sync_state row has its seller, a foreign key, so "not inactive" is "active"). Whether its account is active is
# asked per row, as a scalar subquery answered by an index-only probe of `seller_accounts_active_idx`: a row with
# no account row (an orphan) finds nothing and is not counted, as in the whole-table join; a scalar subquery, not
# EXISTS, because PostgreSQL may turn an EXISTS into a join that hashes every account.
_GROUPS = """g AS (
  (SELECT s.marketplace, s.kind FROM sync_state s ORDER BY s.marketplace, s.kind LIMIT 1)
  UNION ALL
  SELECT n.marketplace, n.kind FROM g CROSS JOIN LATERAL (
    SELECT s.marketplace, s.kind FROM sync_state s WHERE (s.marketplace, s.kind) > (g.marketplace, g.kind)
    ORDER BY s.marketplace, s.kind LIMIT 1) n
)"""
_NOT_INACTIVE = "NOT IN (SELECT sl.id FROM sellers sl WHERE NOT sl.is_active)"
_SELLER_ACTIVE = f"s.seller_id {_NOT_INACTIVE}"
_ACCOUNT_ACTIVE = ("(SELECT true FROM seller_marketplace_accounts a "
                   "WHERE a.seller_id = s.seller_id AND a.marketplace = s.marketplace AND a.is_active)")
# With a validated foreign key from sync_state (seller_id, marketplace) to the accounts, no row lacks its account:
# "not inactive" is "active", asked of the few inactive accounts hashed once per statement
# (`seller_accounts_inactive_idx`), as for the sellers: no probe per counted row (1.0 of 2.2 ms at 10,000 sellers).
_ACCOUNT_NOT_INACTIVE = ("(s.seller_id, s.marketplace) NOT IN (SELECT a.seller_id, a.marketplace "
                         "FROM seller_marketplace_accounts a WHERE NOT a.is_active)")
_CREATED_IF_ACTIVE = "(SELECT sl.created_at FROM sellers sl WHERE sl.id = s.seller_id AND sl.is_active)"
_IN_GROUP = "s.marketplace = g.marketplace AND s.kind = g.kind"

PARAMS: dict[str, str] = {
    "now": "timestamptz: the refresh time",
    "stale_thresholds_seconds": "float8[]: `stale_thresholds` in seconds",
    "stale_cutoffs": "timestamptz[]: `now` minus each of `stale_thresholds`, in the same order",
    "stale_after": "interval: the smallest of `stale_thresholds` (report)",
    "stale_after_cutoff": "timestamptz: `now` minus the smallest of `stale_thresholds`",
    "error_threshold": "integer: `error_threshold`",
    "token_horizon": "interval: `token_horizon`",
    "limit": "integer: `report --limit` (report queries only)",
}
QUERY_DOCS: dict[str, str] = {
    "sync_lag": "One row per marketplace and kind with at least one active seller: `marketplace`, `kind`, "
    "`max_lag_seconds`, `erroring_sellers`, `max_consecutive_errors`; optionally `sellers` (then `sync_sellers` "
    "is not run). Reads the oldest success of each group through `sync_state_success_idx` and the erroring rows "
    "through `sync_state_errors_idx` (index-only): the cost follows the groups and the erroring sellers. Shown: the "
    "form for a `sync_state` without a validated foreign key `(seller_id, marketplace)` to "
    "`seller_marketplace_accounts`, which probes each counted row's account; with one (the reference schema's), "
    "lookout runs it with `(SELECT true FROM seller_marketplace_accounts a WHERE ...)` replaced by `(s.seller_id, "
    "s.marketplace) NOT IN (SELECT a.seller_id, a.marketplace FROM seller_marketplace_accounts a WHERE NOT "
    "a.is_active)` (`seller_accounts_inactive_idx`, hashed once). The catalog is asked at the first refresh and "
    "every `sellers_interval`; an override replaces both forms.",
    "sync_sellers": "One row per marketplace and kind: `marketplace`, `kind`, `sellers` (active sellers with an "
    "active account). Counting reads every seller's row, so it runs once per `sellers_interval`, not every refresh.",
    "stale_sellers": "One row per marketplace, kind and threshold: `marketplace`, `kind`, `threshold_seconds` "
    "(as given), `sellers` (lag `>` threshold, i.e. last success `<` cutoff); a missing row counts 0. Reads the "
    "range of `sync_state_success_idx` older than the smallest threshold (index-only): the cost follows the stale "
    "sellers. Two forms, as `sync_lag`.",
    "token_expiry": "One row per marketplace: `marketplace`, `earliest_expiry` (timestamptz; NULL when no active "
    "token has an expiry), `expired` "
    "(`<= now`), `expiring` (`now < expiry <= now + token_horizon`). Reads `seller_accounts_marketplace_expiry_idx` "
    "up to `now + token_horizon`: the cost follows the expired and expiring tokens.",
    "report": "`report sync`: sellers stale beyond the smallest threshold, erroring, or whose token expires "
    "within the horizon (or has expired).",
}

QUERIES: dict[str, str] = {
    "sync_lag": f"""
WITH RECURSIVE {_GROUPS},
e AS (
  SELECT s.marketplace, s.kind, count(*) FILTER (WHERE s.consecutive_errors >= %(error_threshold)s) AS erroring,
         max(s.consecutive_errors) AS top
  FROM sync_state s
  WHERE s.consecutive_errors > 0 AND {_SELLER_ACTIVE} AND {_ACCOUNT_ACTIVE}
  GROUP BY s.marketplace, s.kind
)
SELECT g.marketplace, g.kind,
       GREATEST(0, extract(epoch FROM %(now)s - LEAST(ok.since, never.since))) AS max_lag_seconds,
       COALESCE(e.erroring, 0) AS erroring_sellers, COALESCE(e.top, 0) AS max_consecutive_errors
FROM g
LEFT JOIN LATERAL (
  SELECT s.last_success_at AS since FROM sync_state s
  WHERE {_IN_GROUP} AND s.last_success_at IS NOT NULL AND {_SELLER_ACTIVE} AND {_ACCOUNT_ACTIVE}
  ORDER BY s.last_success_at LIMIT 1) ok ON true
LEFT JOIN LATERAL (
  SELECT min({_CREATED_IF_ACTIVE}) AS since FROM sync_state s
  WHERE {_IN_GROUP} AND s.last_success_at IS NULL AND {_ACCOUNT_ACTIVE}) never ON true
LEFT JOIN e ON e.marketplace = g.marketplace AND e.kind = g.kind
WHERE ok.since IS NOT NULL OR never.since IS NOT NULL""",
    # From the active accounts of active sellers (inactive sellers filtered through the hashed set, not by hashing
    # every active seller for a join): 22-24 ms instead of 27-30 ms at 10,000 sellers, same rows (an inner join).
    "sync_sellers": f"""
SELECT s.marketplace, s.kind, count(*) AS sellers
FROM seller_marketplace_accounts a
JOIN sync_state s ON s.seller_id = a.seller_id AND s.marketplace = a.marketplace
WHERE a.is_active AND a.seller_id {_NOT_INACTIVE}
GROUP BY s.marketplace, s.kind""",
    # One row per marketplace, kind and threshold with stale sellers (absent means 0). Only the rows
    # stale beyond the smallest threshold are read, then compared with each cutoff.
    "stale_sellers": f"""
WITH RECURSIVE {_GROUPS},
st AS (
  SELECT g.marketplace, g.kind, x.since FROM g CROSS JOIN LATERAL (
    SELECT s.last_success_at AS since FROM sync_state s
    WHERE {_IN_GROUP} AND s.last_success_at < %(stale_after_cutoff)s AND {_SELLER_ACTIVE} AND {_ACCOUNT_ACTIVE}
    UNION ALL
    SELECT {_CREATED_IF_ACTIVE} FROM sync_state s
    WHERE {_IN_GROUP} AND s.last_success_at IS NULL AND {_ACCOUNT_ACTIVE}) x
)
SELECT st.marketplace, st.kind, t.threshold_seconds, count(*) AS sellers
FROM st
JOIN unnest(%(stale_cutoffs)s::timestamptz[], %(stale_thresholds_seconds)s::float8[]) AS t(cutoff, threshold_seconds)
  ON st.since < t.cutoff
GROUP BY st.marketplace, st.kind, t.threshold_seconds""",
    # The earliest expiry is the first of the range counted when the range holds any token; only when it holds
    # none is the marketplace's first token looked up (COALESCE evaluates the subquery only then), so a refresh
    # builds the inactive sellers' hashed set once, not twice: 0.54 -> 0.45 ms at 10,000 sellers.
    "token_expiry": f"""
WITH RECURSIVE m AS (
  (SELECT a.marketplace FROM seller_marketplace_accounts a WHERE a.is_active ORDER BY a.marketplace LIMIT 1)
  UNION ALL
  SELECT n.marketplace FROM m CROSS JOIN LATERAL (
    SELECT a.marketplace FROM seller_marketplace_accounts a WHERE a.is_active AND a.marketplace > m.marketplace
    ORDER BY a.marketplace LIMIT 1) n
)
SELECT m.marketplace,
       COALESCE(c.earliest, (
         SELECT a.token_expires_at FROM seller_marketplace_accounts a
         WHERE a.is_active AND a.marketplace = m.marketplace AND a.token_expires_at IS NOT NULL
           AND a.seller_id {_NOT_INACTIVE}
         ORDER BY a.token_expires_at LIMIT 1)) AS earliest_expiry,
       c.expired, c.expiring
FROM m
CROSS JOIN LATERAL (
  SELECT min(a.token_expires_at) AS earliest,
         count(*) FILTER (WHERE a.token_expires_at <= %(now)s) AS expired,
         count(*) FILTER (WHERE a.token_expires_at > %(now)s) AS expiring
  FROM seller_marketplace_accounts a
  WHERE a.is_active AND a.marketplace = m.marketplace AND a.token_expires_at <= %(now)s + %(token_horizon)s
    AND a.seller_id {_NOT_INACTIVE}) c""",
    "report": f"""
SELECT s.seller_id, sl.name AS seller, s.marketplace, s.kind, s.last_success_at,
       round(GREATEST(0, extract(epoch FROM %(now)s - {_SINCE}))) AS lag_seconds,
       s.consecutive_errors, left(s.last_error, 80) AS last_error, a.token_expires_at
{_ACTIVE}
WHERE {_SINCE} < %(now)s - %(stale_after)s
   OR s.consecutive_errors >= %(error_threshold)s
   OR a.token_expires_at <= %(now)s + %(token_horizon)s
ORDER BY lag_seconds DESC, s.seller_id, s.marketplace, s.kind
LIMIT %(limit)s""",
}

# The metric queries that ask whether a row's account is active, in the form used when sync_state has a validated
# foreign key to the accounts (the same rows otherwise: see _ACCOUNT_NOT_INACTIVE).
KEYED_QUERIES: dict[str, str] = {
    name: QUERIES[name].replace(_ACCOUNT_ACTIVE, _ACCOUNT_NOT_INACTIVE) for name in ("sync_lag", "stale_sellers")
}

# Whether sync_state (seller_id, marketplace) references seller_marketplace_accounts (seller_id, marketplace) through
# a validated foreign key (one added NOT VALID does not vouch for the rows already there), the tables as the
# queries name them (search_path). Not an overridable query: it decides which default form runs.
ACCOUNTS_KEY_CHECK = """
SELECT EXISTS (
  SELECT FROM pg_constraint c
  WHERE c.contype = 'f' AND c.convalidated
    AND c.conrelid = to_regclass('sync_state') AND c.confrelid = to_regclass('seller_marketplace_accounts')
    AND (SELECT array_agg(f.attname::text || '=' || r.attname::text ORDER BY f.attname)
         FROM unnest(c.conkey, c.confkey) AS k(col, ref)
         JOIN pg_attribute f ON f.attrelid = c.conrelid AND f.attnum = k.col
         JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = k.ref)
        = ARRAY['marketplace=marketplace', 'seller_id=seller_id']
) AS keyed"""
_KEY_CHECK = "accounts_key"

log = logging.getLogger("lookout.exporters.collectors.marketplace_sync")

_COLUMNS = {
    "sync_lag": ("marketplace", "kind", "max_lag_seconds", "erroring_sellers", "max_consecutive_errors"),
    "sync_sellers": ("marketplace", "kind", "sellers"),
    "stale_sellers": ("marketplace", "kind", "threshold_seconds", "sellers"),
    "token_expiry": ("marketplace", "earliest_expiry", "expired", "expiring"),
}


@dataclass(kw_only=True)
class MarketplaceSyncSettings(PgSettings):
    QUERIES: ClassVar[tuple[str, ...]] = tuple(QUERIES)

    stale_thresholds: list[Duration] = setting(
        [Duration(120), Duration(900), Duration(3600)],
        help="A seller is stale beyond T when its last successful sync is more than T ago; one "
        "`lookout_marketplace_sync_stale_sellers` series per threshold. The sync runs every 30 s.",
    )
    error_threshold: int = setting(3, help="Sellers with at least this many consecutive sync errors count as erroring.")
    sellers_interval: Duration = setting(
        Duration(300),
        help="How often the active sellers are counted (`lookout_marketplace_sync_sellers`): the count reads "
        "every seller's row, the other metrics only the stale and erroring ones, every refresh."
    )
    token_horizon: Duration = setting(
        Duration(14 * 86400), help="Tokens expiring within this horizon count in `lookout_marketplace_tokens_expiring`."
    )
    marketplaces: list[str] = setting(["wb", "ozon"], help="Marketplaces published even with no row (zeros).")
    kinds: list[str] = setting(
        ["chats", "feedbacks", "questions"], help="Kinds of synced data published even with no row (zeros)."
    )

    def validate(self) -> None:
        super().validate()
        if any(float(t) <= 0 for t in self.stale_thresholds):
            raise ValueError("stale_thresholds: every threshold must be positive")
        if self.error_threshold < 1:
            raise ValueError(f"error_threshold: expected 1 or more, got {self.error_threshold}")


def _threshold_label(value: float) -> str:
    return f"{value:g}"


class MarketplaceSyncCollector(PgCollector[MarketplaceSyncSettings]):
    name = "marketplace_sync"
    Settings = MarketplaceSyncSettings
    DEFAULT_QUERIES = QUERIES
    metrics = (
        gauge(
            "lookout_marketplace_sync_lag_seconds",
            "Worst time since the last successful sync across active sellers (since the seller's "
            "creation when it never succeeded).",
            "marketplace", "kind",
        ),
        gauge("lookout_marketplace_sync_sellers", "Active sellers with an active account synced for this kind.",
              "marketplace", "kind"),
        gauge(
            "lookout_marketplace_sync_stale_sellers",
            "Active sellers whose last successful sync is older than the threshold (seconds).",
            "marketplace", "kind", "threshold",
        ),
        gauge("lookout_marketplace_sync_erroring_sellers",
              "Active sellers with at least error_threshold consecutive sync errors.", "marketplace", "kind"),
        gauge("lookout_marketplace_sync_consecutive_errors_max",
              "Highest consecutive sync error count of any active seller.",
              "marketplace", "kind"),
        gauge(
            "lookout_marketplace_token_earliest_expiry_timestamp_seconds",
            "Unix time at which the first active seller token of the marketplace expires (absent when no "
            "active token has an expiry).",
            "marketplace",
        ),
        gauge("lookout_marketplace_tokens_expired", "Active seller tokens already expired.", "marketplace"),
        gauge("lookout_marketplace_tokens_expiring", "Active seller tokens expiring within token_horizon.",
              "marketplace"),
    )
    summary = (
        "Wildberries/Ozon synchronisation health from `sync_state` and `seller_marketplace_accounts`: worst "
        "lag per marketplace and kind, stale and erroring sellers, earliest token expiry (WB tokens are JWTs "
        "valid 180 days). `lookout-exporter report sync` lists the sellers behind the numbers."
    )
    example = """
marketplace_sync:
  dsn_file: /run/secrets/chatcenter_dsn
  interval: 30s
  stale_thresholds: [2m, 15m, 1h]
  error_threshold: 3
  token_horizon: 14d
"""
    REPORTS: ClassVar[tuple[tuple[str, str], ...]] = (("Stale or erroring sellers, expiring tokens", "report"),)

    def params(self) -> dict[str, Any]:
        s = self.settings
        thresholds = [float(t) for t in s.stale_thresholds]
        now = self.clock()
        return {
            "now": now,
            "stale_thresholds_seconds": thresholds,
            "stale_cutoffs": [now - timedelta(seconds=t) for t in thresholds],
            "stale_after": timedelta(seconds=min(thresholds, default=120.0)),
            "stale_after_cutoff": now - timedelta(seconds=min(thresholds, default=120.0)),
            "error_threshold": s.error_threshold,
            "token_horizon": timedelta(seconds=float(s.token_horizon)),
        }

    _sellers: dict[tuple[str, str], float] | None = None
    _sellers_at = 0.0

    def __init__(self, settings: MarketplaceSyncSettings):
        super().__init__(settings)
        # For this collector's read-only transaction only. JIT off: the per-row subqueries make the planner's
        # estimates large enough to trigger JIT compilation (PostgreSQL's default jit_above_cost), 100-400 ms for
        # a query that runs in about 1 ms. Generic plans: the statements are prepared (psycopg, after five runs)
        # but PostgreSQL kept planning them again for every run (custom plans: 1 ms a refresh at 10,000 sellers,
        # as much as executing them); the default queries' plans do not depend on the parameters' values (index
        # ranges and per-row probes whatever the estimates). Not forced when a query is overridden: its plan may.
        generic = not set(self.source.overridden) & {"sync_lag", "stale_sellers", "token_expiry"}
        self.source.local_settings = {"jit": "off", **({"plan_cache_mode": "force_generic_plan"} if generic else {})}
        self.source.sql[_KEY_CHECK] = ACCOUNTS_KEY_CHECK
        self.keyed: bool | None = None  # sync_state has a validated foreign key to the accounts (None: not asked yet)

    def _choose_form(self) -> None:
        """Ask the catalog which form of the account check holds, and use it for the queries not overridden."""
        keyed = bool(self.source.run(_KEY_CHECK, params={})[_KEY_CHECK][0]["keyed"])
        if keyed != self.keyed:
            if keyed:
                log.info("%s: sync_state has a foreign key to seller_marketplace_accounts: inactive accounts are "
                         "hashed once per query", self.name)
            else:
                log.info("%s: sync_state has no validated foreign key (seller_id, marketplace) to "
                         "seller_marketplace_accounts: each stale or erroring row's account is probed, about 1 us a "
                         "row (docs/schemas.md)", self.name)
        self.keyed = keyed
        for name in KEYED_QUERIES.keys() - self.source.overridden:
            self.source.sql[name] = (KEYED_QUERIES if keyed else QUERIES)[name]

    def refresh(self, snap: Snapshot) -> None:
        s = self.settings
        names = ["sync_lag", "stale_sellers", "token_expiry"]
        counting = self._sellers is None or time.monotonic() - self._sellers_at >= float(s.sellers_interval)
        if counting:
            names.append("sync_sellers")
        # a key added or dropped is seen within sellers_interval; no question when both queries are overridden
        if (counting or self.keyed is None) and not set(KEYED_QUERIES) <= self.source.overridden:
            self._choose_form()
        rows = self.source.run(*names, params=self.params())
        for name in names:
            require(rows[name], _COLUMNS[name], self.name, name)
        pairs = {(m, k) for m in s.marketplaces for k in s.kinds}
        lag: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows["sync_lag"]:
            key = (str(r["marketplace"]), str(r["kind"]))
            lag[key] = r
            pairs.add(key)
        if counting:
            self._sellers = {(str(r["marketplace"]), str(r["kind"])): number(r["sellers"])
                             for r in rows["sync_sellers"]}
            self._sellers_at = time.monotonic()
        # an overriding sync_lag that returns `sellers` (the form before sync_sellers) is used as it is
        sellers = {k: number(r["sellers"]) for k, r in lag.items() if "sellers" in r} or self._sellers or {}
        stale: dict[tuple[str, str, str], float] = {}
        for r in rows["stale_sellers"]:
            th = _threshold_label(number(r["threshold_seconds"]))
            stale[(str(r["marketplace"]), str(r["kind"]), th)] = number(r["sellers"])
        for m, k in sorted(pairs):
            r = lag.get((m, k), {})
            snap.add("lookout_marketplace_sync_lag_seconds", number(r.get("max_lag_seconds")), marketplace=m, kind=k)
            snap.add("lookout_marketplace_sync_sellers", sellers.get((m, k), 0.0), marketplace=m, kind=k)
            snap.add("lookout_marketplace_sync_erroring_sellers", number(r.get("erroring_sellers")), marketplace=m,
                     kind=k)
            snap.add("lookout_marketplace_sync_consecutive_errors_max", number(r.get("max_consecutive_errors")),
                     marketplace=m, kind=k)
            for t in s.stale_thresholds:
                th = _threshold_label(float(t))
                snap.add("lookout_marketplace_sync_stale_sellers", stale.get((m, k, th), 0.0), marketplace=m, kind=k,
                         threshold=th)
        tokens = {str(r["marketplace"]): r for r in rows["token_expiry"]}
        snap.declare("lookout_marketplace_token_earliest_expiry_timestamp_seconds")
        for m in sorted(set(s.marketplaces) | set(tokens)):
            r = tokens.get(m, {})
            earliest = r.get("earliest_expiry")
            if earliest is not None:
                snap.add("lookout_marketplace_token_earliest_expiry_timestamp_seconds", earliest.timestamp(),
                         marketplace=m)
            snap.add("lookout_marketplace_tokens_expired", number(r.get("expired")), marketplace=m)
            snap.add("lookout_marketplace_tokens_expiring", number(r.get("expiring")), marketplace=m)


COLLECTOR = MarketplaceSyncCollector

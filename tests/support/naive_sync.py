"""marketplace_sync's published values computed the naive way: every row fetched, aggregated in Python.

The tests' oracle for the collector's index-range queries (tests/test_pg_collectors.py) and the naive form the
bench times them against (bench/bench_pg.py): one definition, so that the form the bench's speed-up is measured
against is known to answer the same question. Reads ``sync_state`` joined to its active seller and active
account (inner joins: a row with no account row counts nowhere, as in the collector), and the active tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import psycopg

SYNC_ROWS = """
SELECT s.marketplace, s.kind, s.last_success_at, s.consecutive_errors, sl.created_at
FROM sync_state s
JOIN sellers sl ON sl.id = s.seller_id
JOIN seller_marketplace_accounts a ON a.seller_id = s.seller_id AND a.marketplace = s.marketplace
WHERE sl.is_active AND a.is_active"""

TOKENS = """
SELECT a.marketplace, a.token_expires_at
FROM seller_marketplace_accounts a JOIN sellers sl ON sl.id = a.seller_id
WHERE a.is_active AND sl.is_active"""

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def fetch(conn: psycopg.Connection) -> tuple[list[tuple], list[tuple]]:
    """Every active row and every active token, as the naive form fetches them."""
    return conn.execute(SYNC_ROWS).fetchall(), conn.execute(TOKENS).fetchall()


def naive_marketplace_sync(conn: psycopg.Connection, now: datetime, *, thresholds: Iterable[float],
                           error_threshold: int, horizon: timedelta,
                           marketplaces: Iterable[str] = ("wb", "ozon"),
                           kinds: Iterable[str] = ("chats", "feedbacks", "questions")) -> Values:
    """The collector's values, keyed as ``tests.support.pg_scenarios.refresh`` keys them."""
    rows, tokens = fetch(conn)
    thresholds = list(thresholds)
    groups: dict[tuple[str, str], list[tuple[float, int]]] = {(m, k): [] for m in marketplaces for k in kinds}
    for m, k, success, errors, created in rows:
        groups.setdefault((m, k), []).append(((now - (success or created)).total_seconds(), errors))
    out: Values = {}
    for (m, k), mine in groups.items():
        key = (("kind", k), ("marketplace", m))
        out[("lookout_marketplace_sync_sellers", key)] = len(mine)
        out[("lookout_marketplace_sync_lag_seconds", key)] = max([0.0, *(lag for lag, _ in mine)])
        out[("lookout_marketplace_sync_erroring_sellers", key)] = sum(e >= error_threshold for _, e in mine)
        out[("lookout_marketplace_sync_consecutive_errors_max", key)] = max([0, *(e for _, e in mine)])
        for t in thresholds:
            label = (("kind", k), ("marketplace", m), ("threshold", f"{t:g}"))
            out[("lookout_marketplace_sync_stale_sellers", label)] = sum(lag > t for lag, _ in mine)
    expiries: dict[str, list[datetime]] = {m: [] for m in marketplaces}
    for m, expiry in tokens:
        expiries.setdefault(m, [])
        if expiry is not None:
            expiries[m].append(expiry)
    for m, mine in expiries.items():
        key = (("marketplace", m),)
        if mine:
            out[("lookout_marketplace_token_earliest_expiry_timestamp_seconds", key)] = min(mine).timestamp()
        out[("lookout_marketplace_tokens_expired", key)] = sum(t <= now for t in mine)
        out[("lookout_marketplace_tokens_expiring", key)] = sum(now < t <= now + horizon for t in mine)
    return out

"""Capacity volumes of the chat center beside the operators' scaling thresholds.

Reads (PostgreSQL, reference schema ``exporters/schemas/chatcenter.sql``): active sellers
(``sellers_last_active_idx``), chats created in the last 24 h (``chats_created_at_idx``) and users
seen in the last few minutes (``seller_users_last_seen_idx``); each a count over an index range.
Publishes ``lookout_capacity_usage{resource}`` and, beside it, ``lookout_capacity_threshold{resource}`` from the
configuration (defaults: the seed's "when to scale": more than 100 active sellers, 10k chats/day,
1,000 concurrent users), so boards and forecasts compare like with like.

Boundaries: active when ``is_active`` and ``last_active_at >= now - active_window``; a chat counts
when ``now - 24h <= created_at <= now``; a user is concurrent when ``last_seen_at >= now - concurrent_window``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Snapshot, gauge
from lookout.exporters.collectors._pg import PgCollector, PgSettings, column, number

RESOURCES = ("active_sellers", "chats_per_day", "concurrent_users")
# the second seed's "when to scale" figures: defaults, each overridable on its own
DEFAULT_THRESHOLDS: dict[str, float] = {"active_sellers": 100.0, "chats_per_day": 10000.0, "concurrent_users": 1000.0}


def merged_thresholds(overrides: dict[str, float]) -> dict[str, float]:
    """The defaults with ``overrides`` merged over them: a partial map never drops the other resources."""
    return {**DEFAULT_THRESHOLDS, **{k: float(v) for k, v in overrides.items()}}

PARAMS: dict[str, str] = {
    "now": "timestamptz: the refresh time",
    "active_window": "interval: `active_window`",
    "concurrent_window": "interval: `concurrent_window`",
}
QUERY_DOCS: dict[str, str] = {
    "active_sellers": "One row, column `value`. Uses `sellers_last_active_idx`.",
    "chats_per_day": "One row, column `value`: chats created in the last 24 h. Index-only scan of "
    "`chats_created_at_idx`.",
    "concurrent_users": "One row, column `value`. Uses `seller_users_last_seen_idx`.",
}

QUERIES: dict[str, str] = {
    "active_sellers": """
SELECT count(*) AS value FROM sellers
WHERE is_active AND last_active_at >= %(now)s - %(active_window)s""",
    "chats_per_day": """
SELECT count(*) AS value FROM chats
WHERE created_at >= %(now)s - interval '1 day' AND created_at <= %(now)s""",
    "concurrent_users": """
SELECT count(*) AS value FROM seller_users
WHERE last_seen_at >= %(now)s - %(concurrent_window)s""",
}


@dataclass(kw_only=True)
class CapacitySettings(PgSettings):
    QUERIES: ClassVar[tuple[str, ...]] = tuple(QUERIES)

    active_window: Duration = setting(
        Duration(7 * 86400), help="A seller is active when enabled and seen within this window."
    )
    concurrent_window: Duration = setting(
        Duration(300), help="A user counts as concurrent when seen (`last_seen_at`) within this window."
    )
    thresholds: dict[str, float] = setting(
        DEFAULT_THRESHOLDS,
        help="Scaling threshold per resource, published as `lookout_capacity_threshold{resource}`. A partial map "
        "is merged over the defaults: the resources it does not name keep theirs.",
    )

    def validate(self) -> None:
        super().validate()
        unknown = sorted(set(self.thresholds) - set(RESOURCES))
        if unknown:
            raise ValueError(f"thresholds.{unknown[0]}: unknown resource (known: {', '.join(RESOURCES)})")
        self.thresholds = merged_thresholds(self.thresholds)


class CapacityCollector(PgCollector[CapacitySettings]):
    name = "capacity"
    Settings = CapacitySettings
    DEFAULT_QUERIES = QUERIES
    metrics = (
        gauge(
            "lookout_capacity_usage",
            "Current volume per resource: active_sellers, chats_per_day (chats created in the last 24 h), "
            "concurrent_users.",
            "resource",
        ),
        gauge("lookout_capacity_threshold", "Volume at which the platform should scale, per resource (configured).",
              "resource"),
    )
    summary = (
        "Active sellers, chats per day and concurrent users, each published beside the scaling threshold "
        "the operators named (100 active sellers, 10,000 chats/day, 1,000 concurrent users)."
    )
    example = """
capacity:
  dsn: ${CHATCENTER_DATABASE_URL}
  interval: 60s
  thresholds:
    active_sellers: 100
    chats_per_day: 10000
    concurrent_users: 1000
"""

    def params(self) -> dict[str, Any]:
        s = self.settings
        return {
            "now": self.clock(),
            "active_window": timedelta(seconds=float(s.active_window)),
            "concurrent_window": timedelta(seconds=float(s.concurrent_window)),
        }

    def refresh(self, snap: Snapshot) -> None:
        s = self.settings
        rows = self.source.run(*RESOURCES, params=self.params())
        for res in RESOURCES:
            row = rows[res][0] if rows[res] else {"value": 0}
            snap.add("lookout_capacity_usage", number(column(row, "value", self.name, res)), resource=res)
        for res, limit in sorted(s.thresholds.items()):
            snap.add("lookout_capacity_threshold", float(limit), resource=res)


COLLECTOR = CapacityCollector

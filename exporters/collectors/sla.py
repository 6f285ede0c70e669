"""Response-time SLA of the chat center's interactions (chats, feedbacks, questions).

Reads (PostgreSQL, reference schema ``exporters/schemas/chatcenter.sql``): open ``interactions``
whose ``sla_due_at`` is at most ``now + horizon`` (and, only if ``max_age`` is set, at least
``now - max_age``), through the partial index ``interactions_open_due_idx``: it holds open rows only,
so the cost follows the open backlog, not the table, and no lower bound is needed for it.
Publishes, for every configured channel (zeros included): interactions past their deadline, those
due within the horizon, the age of the oldest breach, and breaches the ``check_sla_escalation``
task (every 5 min) has not escalated after ``escalation_grace``. No seller id is a label.

Boundaries: breached when ``sla_due_at < now``; at risk when ``now <= sla_due_at <= now + horizon``;
unescalated when ``escalated_at IS NULL`` and ``sla_due_at < now - escalation_grace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Snapshot, gauge
from lookout.exporters.collectors._pg import PgCollector, PgSettings, number, require

# max_age is NULL unless configured: every open breach counts, however old.
_OPEN_IN_RANGE = """i.status = 'open'
  AND i.sla_due_at <= %(now)s + %(horizon)s
  AND (%(max_age)s::interval IS NULL OR i.sla_due_at >= %(now)s - %(max_age)s::interval)"""

PARAMS: dict[str, str] = {
    "now": "timestamptz: the refresh time",
    "horizon": "interval: `horizon`",
    "max_age": "interval: `max_age`, NULL when not set (no lower bound)",
    "escalation_grace": "interval: `escalation_grace`",
    "limit": "integer: `report --limit` (report queries only)",
}
QUERY_DOCS: dict[str, str] = {
    "sla_status": "One row per channel: `channel`, `breached`, `at_risk`, `oldest_breach_age_seconds`, "
    "`unescalated`. Index range scan on the partial index `interactions_open_due_idx` (open interactions only).",
    "report": "`report sla`: the breached and at-risk interactions, oldest deadline first.",
}

QUERIES: dict[str, str] = {
    "sla_status": f"""
SELECT i.channel,
       count(*) FILTER (WHERE i.sla_due_at < %(now)s) AS breached,
       count(*) FILTER (WHERE i.sla_due_at >= %(now)s) AS at_risk,
       COALESCE(extract(epoch FROM %(now)s - min(i.sla_due_at) FILTER (WHERE i.sla_due_at < %(now)s)), 0)
         AS oldest_breach_age_seconds,
       count(*) FILTER (WHERE i.escalated_at IS NULL AND i.sla_due_at < %(now)s - %(escalation_grace)s)
         AS unescalated
FROM interactions i
WHERE {_OPEN_IN_RANGE}
GROUP BY i.channel""",
    "report": f"""
SELECT i.id AS interaction_id, i.seller_id, sl.name AS seller, i.channel, i.marketplace, i.external_id,
       i.priority, i.created_at, i.sla_due_at,
       CASE WHEN i.sla_due_at < %(now)s THEN 'breached' ELSE 'at_risk' END AS state,
       round(extract(epoch FROM %(now)s - i.sla_due_at)) AS overdue_seconds,
       i.escalated_at
FROM interactions i
JOIN sellers sl ON sl.id = i.seller_id
WHERE {_OPEN_IN_RANGE}
ORDER BY i.sla_due_at
LIMIT %(limit)s""",
}

_COLUMNS = ("channel", "breached", "at_risk", "oldest_breach_age_seconds", "unescalated")


@dataclass(kw_only=True)
class SlaSettings(PgSettings):
    QUERIES: ClassVar[tuple[str, ...]] = tuple(QUERIES)

    horizon: Duration = setting(Duration(1800), help="Open interactions due within this horizon are at risk.")
    max_age: Duration | None = setting(
        None,
        help="Ignore breaches whose deadline is older than this. Default: none, every open breach counts "
        "(the partial index holds open interactions only, so the query stays cheap without it).",
    )
    escalation_grace: Duration = setting(
        Duration(900),
        help="A breach still without `escalated_at` this long after its deadline counts as unescalated "
        "(check_sla_escalation runs every 5 min).",
    )
    channels: list[str] = setting(["chat", "feedback", "question"], help="Channels published even with no row.")


class SlaCollector(PgCollector[SlaSettings]):
    name = "sla"
    Settings = SlaSettings
    DEFAULT_QUERIES = QUERIES
    metrics = (
        gauge("lookout_sla_interactions_breached", "Open interactions past their SLA deadline.", "channel"),
        gauge("lookout_sla_interactions_at_risk", "Open interactions due within the horizon.", "channel"),
        gauge("lookout_sla_oldest_breach_age_seconds", "Time since the deadline of the oldest open breach (0 if none).",
              "channel"),
        gauge("lookout_sla_interactions_unescalated",
              "Open breaches not escalated escalation_grace after their deadline.", "channel"),
        gauge("lookout_sla_horizon_seconds", "The configured at-risk horizon."),
    )
    summary = (
        "Open interactions past or near their SLA deadline, per channel (chat, feedback, question), and "
        "breaches the escalation task missed. `lookout-exporter report sla` lists the interactions."
    )
    example = """
sla:
  dsn: ${CHATCENTER_DATABASE_URL}
  interval: 30s
  horizon: 30m
"""
    REPORTS: ClassVar[tuple[tuple[str, str], ...]] = (("Breached and at-risk interactions", "report"),)

    def params(self) -> dict[str, Any]:
        s = self.settings
        return {
            "now": self.clock(),
            "horizon": timedelta(seconds=float(s.horizon)),
            "max_age": None if s.max_age is None else timedelta(seconds=float(s.max_age)),
            "escalation_grace": timedelta(seconds=float(s.escalation_grace)),
        }

    def refresh(self, snap: Snapshot) -> None:
        s = self.settings
        rows = self.source.run("sla_status", params=self.params())["sla_status"]
        require(rows, _COLUMNS, self.name, "sla_status")
        by_channel = {str(r["channel"]): r for r in rows}
        for ch in sorted(set(s.channels) | set(by_channel)):
            r = by_channel.get(ch, {})
            snap.add("lookout_sla_interactions_breached", number(r.get("breached")), channel=ch)
            snap.add("lookout_sla_interactions_at_risk", number(r.get("at_risk")), channel=ch)
            snap.add("lookout_sla_oldest_breach_age_seconds", number(r.get("oldest_breach_age_seconds")), channel=ch)
            snap.add("lookout_sla_interactions_unescalated", number(r.get("unescalated")), channel=ch)
        snap.add("lookout_sla_horizon_seconds", float(s.horizon))


COLLECTOR = SlaCollector

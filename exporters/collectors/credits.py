"""Credit-charge reconciliation of the voice platform (1 credit = 1 second of conversation).

Reads (PostgreSQL, reference schema ``exporters/schemas/voice.sql``): the conversations started
within the look-back window that are candidates for a reason (open, uncharged, charged differently
from their duration), each through a partial index on ``started_at``, and ``customer_credits``
rows with a negative balance, through ``customer_credits_negative_idx``.
Publishes: ``lookout_credits_conversations_unreconciled{reason}`` and ``lookout_credits_unreconciled_seconds{reason}``
for every reason (zeros included), and the customers with a negative balance. No tenant id is
ever a label; ``lookout-exporter report credits`` lists the rows behind the numbers.

Boundaries (``now`` is the refresh time; all comparisons are documented in docs/queries.md):
a conversation is in the window when ``now - window <= started_at <= now``;
``no_end_event`` when ``ended_at IS NULL`` and ``started_at < now - max_call_length``;
``not_charged`` when ended, ``credits_charged IS NULL`` and ``ended_at < now - charge_grace``;
``charge_mismatch`` when ``|credits_charged - duration_seconds| > charge_tolerance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Snapshot, gauge
from lookout.exporters.collectors._pg import PgCollector, PgSettings, column, number

REASONS = ("no_end_event", "not_charged", "charge_mismatch")
_RECONCILE_COLUMNS = [c for r in REASONS for c in (r, f"{r}_seconds")]

_IN_WINDOW = "c.started_at >= %(now)s - %(window)s AND c.started_at <= %(now)s"
_NO_END = "c.ended_at IS NULL AND c.started_at < %(now)s - %(max_call_length)s"
_NOT_CHARGED = "c.ended_at IS NOT NULL AND c.credits_charged IS NULL AND c.ended_at < %(now)s - %(charge_grace)s"
_MISMATCH = "abs(c.credits_charged - c.duration_seconds) > %(charge_tolerance_seconds)s"

PARAMS: dict[str, str] = {
    "now": "timestamptz: the refresh time",
    "window": "interval: `window`",
    "max_call_length": "interval: `max_call_length`",
    "max_call_length_seconds": "float: `max_call_length` in seconds",
    "charge_grace": "interval: `charge_grace`",
    "charge_tolerance_seconds": "float: `charge_tolerance` in seconds",
    "limit": "integer: `report --limit` (report queries only)",
}
QUERY_DOCS: dict[str, str] = {
    "reconcile": "One row with columns `no_end_event`, `not_charged`, `charge_mismatch` (conversations) and "
    "`<reason>_seconds` (seconds involved). Each reason is an index range over the window of a partial index "
    "holding only its candidate rows: `conversations_open_idx`, `conversations_uncharged_idx`, "
    "`conversations_charge_differs_idx`.",
    "negative_balance": "One row: `customers` (count) and `credits` (sum of the deficits, positive). "
    "Uses `customer_credits_negative_idx`.",
    "report": "`report credits`: the conversations counted by `reconcile`, with the agent and the ledger "
    "(`credit_transactions`) joined on both the row id and `customer_id`.",
    "report_negative_balance": "`report credits`: the customers with a negative balance.",
}

QUERIES: dict[str, str] = {
    # One subquery per reason, each an index range over the window of a partial index holding only
    # the candidate rows (open, uncharged, charged differently from the duration): the cost follows the
    # anomalies in the window, not the conversations.
    "reconcile": f"""
SELECT ne.n AS no_end_event, ne.s AS no_end_event_seconds,
       nc.n AS not_charged, nc.s AS not_charged_seconds,
       cm.n AS charge_mismatch, cm.s AS charge_mismatch_seconds
FROM (SELECT count(*) AS n, COALESCE(sum(COALESCE(c.duration_seconds, %(max_call_length_seconds)s)), 0) AS s
      FROM conversations c WHERE {_IN_WINDOW} AND {_NO_END}) ne,
     (SELECT count(*) AS n,
             COALESCE(sum(COALESCE(c.duration_seconds, extract(epoch FROM c.ended_at - c.started_at))), 0) AS s
      FROM conversations c WHERE {_IN_WINDOW} AND {_NOT_CHARGED}) nc,
     (SELECT count(*) AS n, COALESCE(sum(abs(c.credits_charged - c.duration_seconds)), 0) AS s
      FROM conversations c
      WHERE {_IN_WINDOW} AND c.credits_charged <> c.duration_seconds AND {_MISMATCH}) cm""",
    "negative_balance": """
SELECT count(*) AS customers, COALESCE(sum(-balance_credits), 0) AS credits
FROM customer_credits
WHERE balance_credits < 0""",
    # Drill-down (lookout-exporter report credits): the conversations behind the metrics, with
    # the agent and the ledger joined on both the row id and the tenant (customer_id).
    "report": f"""
SELECT r.reason, r.conversation_id, r.customer_id, a.name AS agent, r.started_at, r.ended_at,
       r.duration_seconds, r.credits_charged, l.ledger_credits
FROM (
  SELECT CASE WHEN {_NO_END} THEN 'no_end_event'
              WHEN {_NOT_CHARGED} THEN 'not_charged'
              WHEN {_MISMATCH} THEN 'charge_mismatch' END AS reason,
         c.*
  FROM conversations c
  WHERE {_IN_WINDOW}
) r
LEFT JOIN customer_agents a ON a.id = r.agent_id AND a.customer_id = r.customer_id
LEFT JOIN LATERAL (
  SELECT -sum(t.delta_credits) AS ledger_credits FROM credit_transactions t
  WHERE t.conversation_id = r.id AND t.customer_id = r.customer_id
) l ON true
WHERE r.reason IS NOT NULL
ORDER BY r.reason, r.started_at
LIMIT %(limit)s""",
    "report_negative_balance": """
SELECT customer_id, balance_credits, updated_at
FROM customer_credits
WHERE balance_credits < 0
ORDER BY balance_credits
LIMIT %(limit)s""",
}


@dataclass(kw_only=True)
class CreditsSettings(PgSettings):
    QUERIES: ClassVar[tuple[str, ...]] = tuple(QUERIES)

    window: Duration = setting(Duration(86400), help="Look-back window: conversations started this long ago or less.")
    max_call_length: Duration = setting(
        Duration(1800),
        help="A conversation without an end event older than this is `no_end_event` (missed "
        "`conversation:end` webhook). Set it above the agents' maximum conversation duration.",
    )
    charge_grace: Duration = setting(
        Duration(300), help="An ended conversation still uncharged this long after its end is `not_charged`."
    )
    charge_tolerance: Duration = setting(
        Duration(1),
        help="`charge_mismatch` when credits charged and duration (seconds) differ by more than this.",
    )

    def validate(self) -> None:
        super().validate()
        if float(self.window) <= 0:
            raise ValueError("window: must be positive")


class CreditsCollector(PgCollector[CreditsSettings]):
    name = "credits"
    Settings = CreditsSettings
    DEFAULT_QUERIES = QUERIES
    metrics = (
        gauge(
            "lookout_credits_conversations_unreconciled",
            "Conversations started within the window whose charge does not reconcile, by reason "
            "(no_end_event, not_charged, charge_mismatch).",
            "reason",
        ),
        gauge(
            "lookout_credits_unreconciled_seconds",
            "Seconds (= credits) involved in the unreconciled conversations, by reason: the duration "
            "(max_call_length when unknown) for no_end_event and not_charged, |charged - duration| "
            "for charge_mismatch.",
            "reason",
        ),
        gauge("lookout_credits_customers_negative_balance", "Customers whose credit balance is below zero."),
        gauge("lookout_credits_negative_balance_credits",
              "Sum of the negative balances, as a positive number of credits."),
        gauge("lookout_credits_window_seconds", "The configured look-back window."),
    )
    summary = (
        "Reconciles ElevenLabs conversations with the credits charged for them (1 credit = 1 second) "
        "over a look-back window: missed `conversation:end` webhooks, ended but uncharged conversations, "
        "charges differing from the duration, and customers with a negative balance. Queries are named "
        "and overridable (docs/queries.md); `lookout-exporter report credits` lists the rows."
    )
    example = """
credits:
  dsn: ${VOICE_DATABASE_URL}
  interval: 60s
  window: 24h
  max_call_length: 30m
  charge_grace: 5m
  charge_tolerance: 1s
"""

    def params(self) -> dict[str, Any]:
        s = self.settings
        from datetime import timedelta

        return {
            "now": self.clock(),
            "window": timedelta(seconds=float(s.window)),
            "max_call_length": timedelta(seconds=float(s.max_call_length)),
            "max_call_length_seconds": float(s.max_call_length),
            "charge_grace": timedelta(seconds=float(s.charge_grace)),
            "charge_tolerance_seconds": float(s.charge_tolerance),
        }

    REPORTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Unreconciled conversations", "report"),
        ("Customers with a negative balance", "report_negative_balance"),
    )

    def refresh(self, snap: Snapshot) -> None:
        rows = self.source.run("reconcile", "negative_balance", params=self.params())
        rec = rows["reconcile"][0] if rows["reconcile"] else dict.fromkeys(_RECONCILE_COLUMNS)
        for reason in REASONS:
            for metric, col in (
                ("lookout_credits_conversations_unreconciled", reason),
                ("lookout_credits_unreconciled_seconds", f"{reason}_seconds"),
            ):
                snap.add(metric, number(column(rec, col, self.name, "reconcile")), reason=reason)
        neg = rows["negative_balance"][0] if rows["negative_balance"] else {"customers": 0, "credits": 0}
        snap.add("lookout_credits_customers_negative_balance", number(column(neg, "customers", self.name,
                                                                             "negative_balance")))
        snap.add("lookout_credits_negative_balance_credits", number(column(neg, "credits", self.name,
                                                                           "negative_balance")))
        snap.add("lookout_credits_window_seconds", float(self.settings.window))


COLLECTOR = CreditsCollector

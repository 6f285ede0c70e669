"""LLM token usage and spend, priced by the versioned price table (``exporters/data/prices.yaml``).

Reads (PostgreSQL, reference table ``llm_usage`` in ``exporters/schemas/chatcenter.sql``, one row per LLM call;
the row source is the overridable query ``usage``): on the first refresh after start, one aggregate over the
whole table per (provider, model, feature, 15-minute bucket), in the same snapshot as ``max(id)`` and the ids of
the last ``tail_ids`` rows; afterwards only rows with ``id`` above the cursor (a range scan of the primary key)
plus the ids still missing below it (``id = ANY(...)``), so a refresh costs in proportion to the new rows.
Publishes: ``lookout_llm_tokens_total{provider,model,type}``, ``lookout_llm_spend_usd_total{provider,model,feature}``,
``lookout_llm_calls_total{provider,model,feature}``, ``lookout_llm_unpriced_tokens_total{provider,model,type}``,
``lookout_llm_unpriced_calls_total{provider,model}`` (a model the table does not price is counted and logged, never
priced at zero), the cursor state and the price table's version.

Restarts: the totals, the cursor and the watched ids are kept in a local checkpoint file (``_checkpoint``: written
atomically after each refresh that read rows, never in the user's database). At start a checkpoint written for the
same database, query, price table and label cap whose fingerprint rows still match is restored, and the first refresh
reads only what was added since; otherwise (no file, or a corrupt, oversized, foreign or outdated one: one log line
and ``lookout_llm_usage_checkpoint_rejected_total``) the totals are recomputed from the whole table. Either way they
equal exactly what the previous process had counted plus what arrived meanwhile (exact ``Decimal`` sums: no rounding
drift), never less: ``rate()`` sees no reset, and two exporters reading the same table publish the same values.
Rows committed out of id order (a transaction holding a lower id commits after a higher one) are caught: ids
skipped by the cursor are watched for ``late_commit_window`` and counted when they appear; beyond
``max_watched_ids`` holes, ``lookout_llm_usage_totals_lower_bound`` says the totals may be a lower bound. Rows are
assumed immutable and never deleted (see ``docs/llm_spend.md``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from lookout.exporters import conninfo
from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Snapshot, counter, gauge, info
from lookout.exporters.collectors import _checkpoint
from lookout.exporters.collectors._pg import PgCollector, PgSettings, PgSource, QueryError
from lookout.exporters.pricing import DEFAULT_PATH, GRANULARITY_SECONDS, TOKEN_TYPES, PriceTable, Rates

log = logging.getLogger("lookout.exporters.collectors.llm_spend")

USAGE_QUERY = """
SELECT id, created_at, provider, model, feature,
       input_cache_hit_tokens, input_cache_miss_tokens, output_tokens
FROM llm_usage""".strip()

PARAMS: dict[str, str] = {"-": "none: the collector wraps the query in its own SQL (docs/llm_spend.md)"}
QUERY_DOCS: dict[str, str] = {
    "usage": "The row source, one row per LLM call, with columns `id` (bigint increasing with insertion, "
    "e.g. bigserial), `created_at`, `provider`, `model`, `feature`, `input_cache_hit_tokens`, "
    "`input_cache_miss_tokens`, `output_tokens`. It is used as a subquery filtered on `id` (`id > cursor`, "
    "`id = ANY(...)`), which must reach the primary key: keep it a plain SELECT (no aggregate, DISTINCT, "
    "ORDER BY or LIMIT). The first refresh after start reads it whole, once.",
}

# Usage aggregated per (provider, model, feature, 15-minute bucket) by the database: the collector prices a few
# groups instead of every row. ``b`` is the batch of usage rows with their bucket.
_AGGREGATE = """
SELECT 'g' AS kind, b.provider, b.model, b.feature, b.bucket,
       count(*)::bigint AS calls,
       COALESCE(sum(b.input_cache_hit_tokens), 0)::bigint AS hit,
       COALESCE(sum(b.input_cache_miss_tokens), 0)::bigint AS miss,
       COALESCE(sum(b.output_tokens), 0)::bigint AS out,
       NULL::bigint AS id, date_part('epoch', max(b.created_at)) AS ts, NULL::bigint[] AS ids,
       min(b.id)::bigint AS first_id
FROM b
GROUP BY b.provider, b.model, b.feature, b.bucket"""

_BUCKET = f"floor(date_part('epoch', x.created_at) / {GRANULARITY_SECONDS})::bigint AS bucket"
_NULLS = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"

# One statement, hence one snapshot: the totals, the cursor (max id) and the ids just below it agree.
INITIAL_SQL = f"""
WITH u AS NOT MATERIALIZED ({{usage}}),
     b AS NOT MATERIALIZED (SELECT x.*, {_BUCKET} FROM u x),
     m AS (SELECT max(id) AS hi FROM u)
{_AGGREGATE}
UNION ALL
SELECT 'm', {_NULLS}, m.hi, NULL, (SELECT array_agg(u.id) FROM u, m WHERE u.id > m.hi - %(tail)s), NULL FROM m
"""

# New rows (a range scan of the primary key, at most ``limit``) and the watched ids that appeared since.
INCREMENTAL_SQL = f"""
WITH n AS MATERIALIZED (SELECT u.* FROM ({{usage}}) u WHERE u.id > %(after)s ORDER BY u.id LIMIT %(limit)s),
     l AS MATERIALIZED (SELECT u.* FROM ({{usage}}) u WHERE u.id = ANY(%(gaps)s::bigint[])),
     b AS (SELECT x.*, {_BUCKET} FROM (SELECT * FROM n UNION ALL SELECT * FROM l) x)
{_AGGREGATE}
UNION ALL
SELECT 'i', {_NULLS}, NULL, NULL, (SELECT array_agg(x.id) FROM (SELECT id FROM n UNION ALL SELECT id FROM l) x),
       NULL
"""

# The content of a few counted rows (the first one and the cursor's), to tell a checkpoint's database from a
# restored, truncated or replaced one with the same ids.
FINGERPRINT_SQL = """
SELECT u.id, md5(concat_ws('|', date_part('epoch', u.created_at), u.provider, u.model, u.feature,
                 u.input_cache_hit_tokens, u.input_cache_miss_tokens, u.output_tokens)) AS h
FROM ({usage}) u WHERE u.id = ANY(%(ids)s::bigint[])"""

OTHER = "other"
_ZERO = Decimal(0)
CHECKPOINT_FORMAT = "lookout-llm-spend-checkpoint-1"
CHECKPOINT_FILE = "llm_spend.checkpoint.json"
CHECKPOINT_REASONS = ("corrupt", "oversized", "foreign", "changed", "write")


@dataclass(kw_only=True)
class LlmSpendSettings(PgSettings):
    QUERIES: ClassVar[tuple[str, ...]] = ("usage",)

    interval: Duration = setting(Duration(30), help="How often new usage rows are read.")
    price_table: str | None = setting(
        None, help="Path of a price table in the format of the shipped one (default: the shipped table)."
    )
    late_commit_window: Duration = setting(
        Duration(600),
        help="How long an id skipped by the cursor (a transaction still open, or rolled back) is watched for a "
        "late commit before it is given up as a gap.",
    )
    initial_statement_timeout: Duration = setting(
        Duration(300),
        help="Server-side limit for the aggregate over the whole table run at the first refresh after start "
        "(a few seconds per million rows; see docs/llm_spend.md).",
    )
    tail_ids: int = setting(
        10_000, help="At start, how many ids below the highest one are checked for rows not yet committed."
    )
    batch_rows: int = setting(50_000, help="Rows read per query at most; a backlog is read over several queries.")
    max_watched_ids: int = setting(
        20_000, help="Missing ids watched at most; holes beyond it are not watched (logged once, and "
        "`lookout_llm_usage_totals_lower_bound` is 1 for `late_commit_window`).",
        at_cap="lower bound: `lookout_llm_usage_totals_lower_bound` is 1 while a row committed late in an "
        "unwatched hole could still be missed (for `late_commit_window`).",
    )
    checkpoint: bool = setting(
        True, help="Keep the totals in a local checkpoint file, so a restart reads only the rows added since "
        "instead of aggregating the whole table (the database is never written). Needs `checkpoint_path` or a "
        "state directory."
    )
    checkpoint_path: str | None = setting(
        None, help="The checkpoint file. Default: `llm_spend.checkpoint.json` in the exporter's state directory "
        "(`$STATE_DIRECTORY`, set by systemd's `StateDirectory=lookout`); without one, no checkpoint. A corrupt, "
        "foreign or oversized file, or one whose rows no longer match the database, is ignored (one log line, "
        "`lookout_llm_usage_checkpoint_rejected_total`) and the totals are aggregated from the table."
    )
    max_label_values: int = setting(
        30,
        help="Distinct values per label (provider, feature, and models unknown to the price table) before new "
        "ones are published as `other`.",
        at_cap="exact: further values are counted under `other`.",
    )

    def validate(self) -> None:
        super().validate()
        if self.batch_rows < 1 or self.tail_ids < 0 or self.max_watched_ids < 0 or self.max_label_values < 1:
            raise ValueError("batch_rows, tail_ids, max_watched_ids and max_label_values must be positive")
        PriceTable.load(self.price_table)  # a bad table stops the exporter at start with a one-line error


class LlmSpendCollector(PgCollector[LlmSpendSettings]):
    name = "llm_spend"
    Settings = LlmSpendSettings
    DEFAULT_QUERIES: ClassVar[dict[str, str]] = {"usage": USAGE_QUERY}
    summary = (
        "Token usage recorded by the application (table `llm_usage`, one row per LLM call), priced by the "
        "shipped price table (per provider and model: effective dates, cache-hit/cache-miss/output prices, "
        "peak/off-peak windows, aliases). True counters read incrementally by id: a refresh reads only new rows; "
        "after a restart the totals are recomputed from the table, so they never go back. Models the table does "
        "not price are counted as unpriced, never priced at zero. See docs/llm_spend.md."
    )
    example = """
llm_spend:
  dsn: ${CHATCENTER_DATABASE_URL}
  interval: 30s
"""
    metrics = (
        counter("lookout_llm_tokens_total",
                "Tokens used by LLM calls, by type (input_cache_hit, input_cache_miss, output).",
                "provider", "model", "type"),
        counter("lookout_llm_spend_usd_total", "Cost of LLM calls in USD from the price table (priced calls only).",
                "provider", "model", "feature"),
        counter("lookout_llm_calls_total", "LLM calls recorded by the application.", "provider", "model", "feature"),
        counter("lookout_llm_unpriced_tokens_total",
                "Tokens of calls the price table cannot price (unknown or retired model), by type.",
                "provider", "model", "type"),
        counter("lookout_llm_unpriced_calls_total", "Calls the price table cannot price.", "provider", "model"),
        gauge("lookout_llm_usage_cursor_id", "Highest usage row id read."),
        gauge("lookout_llm_usage_watched_ids", "Ids below the cursor still watched for a late commit."),
        gauge("lookout_llm_usage_newest_row_timestamp_seconds", "created_at of the newest usage row read (0 if none)."),
        gauge("lookout_llm_usage_totals_lower_bound", "1 while ids skipped beyond max_watched_ids could still commit "
              "unseen (the totals may then be a lower bound), else 0."),
        gauge("lookout_llm_usage_checkpoint_loaded", "1 if this process started from the local checkpoint instead of "
              "aggregating the whole table."),
        counter("lookout_llm_usage_checkpoint_rejected_total", "Checkpoint files ignored at start (corrupt, oversized, "
                "foreign, changed: the database no longer holds the checkpoint's rows) or not written (write).",
                "reason"),
        info("lookout_llm_price_table_info", "Version of the price table in use.", "version"),
    )

    def __init__(self, settings: LlmSpendSettings):
        super().__init__(settings)
        self.prices = PriceTable.load(settings.price_table)
        usage = settings.queries.get("usage", USAGE_QUERY).strip().rstrip(";")
        sql = {
            "initial": INITIAL_SQL.replace("{usage}", usage),  # not str.format: the query may contain braces
            "incremental": INCREMENTAL_SQL.replace("{usage}", usage),
            "fingerprint": FINGERPRINT_SQL.replace("{usage}", usage),
            # the aggregate holds one entry per group in memory: let it hash instead of spilling to disk
            "work_mem": "SELECT set_config('work_mem', '64MB', true)",
        }
        self.source = PgSource(self.name, settings, sql)
        # the one full aggregate gets its own, longer statement timeout (and connection, closed once done)
        self._initial_settings = dataclasses.replace(settings, statement_timeout=settings.initial_statement_timeout)
        self._sql = sql
        self._initial_source: PgSource | None = None
        self.monotonic = time.monotonic
        self.wall = time.time
        directory = _checkpoint.default_dir()
        self.checkpoint_path = (settings.checkpoint_path or (os.path.join(directory, CHECKPOINT_FILE) if directory
                                                             else None)) if settings.checkpoint else None
        self._identity = _identity(settings, usage)
        self.checkpoint_rejected = dict.fromkeys(CHECKPOINT_REASONS, 0)
        self.checkpoint_loaded = False
        self._written: tuple[Any, ...] | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.cursor: int | None = None  # None: totals not loaded yet
        self.watched: dict[int, float] = {}  # missing id -> monotonic time it was first missed
        self.newest = 0.0
        # per (provider, model, feature) label set: [calls, cache-hit, cache-miss, output tokens]
        self.series: dict[tuple[str, str, str], list[int]] = {}
        self.unpriced: dict[tuple[str, str, str], list[int]] = {}
        self.priced: dict[tuple[str, str, str], dict[Rates, list[int]]] = {}  # series -> price -> token sums
        self._labels: dict[str, set[str]] = {}
        self._label_cache: dict[tuple[str, str, Any], tuple[str, str, str]] = {}
        self._warned_unpriced: set[tuple[str, str]] = set()
        self._warned_overflow = False
        self.first_id: int | None = None  # lowest id counted (the checkpoint's fingerprint)
        self.lower_bound_until = 0.0  # wall time until which skipped ids beyond the cap could still commit

    # -- refresh ---------------------------------------------------------------------------------------------
    def refresh(self, snap: Snapshot) -> None:
        if self.cursor is None and not self._load_checkpoint():
            self._initial()
        else:
            started = self.monotonic()
            while self._incremental() and self.monotonic() - started < max(1.0, float(self.settings.interval) / 2):
                pass  # a full batch: keep reading the backlog within half an interval
        self._save_checkpoint()
        self._emit(snap)

    def _initial(self) -> None:
        self._initial_source = source = PgSource(self.name, self._initial_settings, self._sql)
        try:
            rows = source.run("work_mem", "initial", params={"tail": self.settings.tail_ids})["initial"]
        finally:
            source.close()
            self._initial_source = None
        groups = [r for r in rows if r["kind"] == "g"]
        # capped labels go to names in the order of their first row (lowest id), as they did while the exporter
        # ran: a restart then gives the same names their own series, and `other` never drops (a counter reset)
        first: dict[tuple[Any, Any, Any], int] = {}
        for g in groups:
            key = (g["provider"], g["model"], g["feature"])
            first[key] = min(first.get(key, g["first_id"]), g["first_id"])
        for key in sorted(first, key=lambda k: (first[k], tuple(str(v) for v in k))):
            self._labels_of({"provider": key[0], "model": key[1], "feature": key[2]})
        meta = next(r for r in rows if r["kind"] == "m")
        hi, tail = meta["id"], sorted(meta["ids"] or ())
        for g in groups:
            self._add(g)
        self.first_id = min((int(g["first_id"]) for g in groups), default=None)
        self.cursor = int(hi or 0)
        self.watched = {}
        if tail:
            self._watch_holes(tail[0] - 1, tail)
        log.info("llm_spend: loaded the totals of %d usage groups up to id %d", len(groups), self.cursor)

    def _incremental(self) -> bool:
        """Read one batch of new rows and watched ids; True if the batch was full (more are waiting)."""
        assert self.cursor is not None
        self._expire_watched()
        after = self.cursor
        limit = self.settings.batch_rows
        rows = self.source.run(
            "incremental", params={"after": after, "limit": limit, "gaps": sorted(self.watched)}
        )["incremental"]
        new_ids = []
        # groups in the order of their first row, as the first refresh after a restart orders them
        for r in sorted(rows, key=lambda r: (r["kind"] != "g", r["first_id"] or 0)):
            if r["kind"] == "g":
                self._add(r)
                if self.first_id is None or r["first_id"] < self.first_id:
                    self.first_id = int(r["first_id"])
                continue
            for rid in r["ids"] or ():
                if rid > after:
                    new_ids.append(rid)
                else:
                    self.watched.pop(rid, None)
        if new_ids:
            new_ids.sort()
            self._watch_holes(after, new_ids)
            self.cursor = new_ids[-1]
        return len(new_ids) >= limit

    def _watch_holes(self, after: int, ids: list[int]) -> None:
        """Watch the ids in ``(after, ids[-1]]`` that are not in ``ids`` (sorted)."""
        now = self.monotonic()
        cap = self.settings.max_watched_ids
        prev = after
        for i in ids:
            if i > prev + 1:
                room = cap - len(self.watched)
                end = min(i, prev + 1 + max(0, room))
                for missing in range(prev + 1, end):
                    self.watched[missing] = now
                if end < i:
                    self.lower_bound_until = self.wall() + float(self.settings.late_commit_window)
                if end < i and not self._warned_overflow:
                    self._warned_overflow = True
                    log.warning("llm_spend: more than %d missing usage ids; the excess is not watched for late "
                                "commits (rolled-back inserts or a sequence jump)", cap)
            prev = max(prev, i)

    def _expire_watched(self) -> None:
        limit = self.monotonic() - float(self.settings.late_commit_window)
        expired = [i for i, t in self.watched.items() if t < limit]
        for i in expired:
            del self.watched[i]

    # -- checkpoint ------------------------------------------------------------------------------------------
    def _reject(self, reason: str, detail: str) -> None:
        self.checkpoint_rejected[reason] += 1
        log.warning("llm_spend: checkpoint %s ignored (%s: %s); aggregating the whole table", self.checkpoint_path,
                    reason, detail)

    def _load_checkpoint(self) -> bool:
        """Restore the totals from the checkpoint if it belongs to this database and configuration."""
        if self.checkpoint_path is None:
            return False
        try:
            data = _checkpoint.read(self.checkpoint_path, CHECKPOINT_FORMAT)
            if data.get("identity") != self._identity:
                raise _checkpoint.Rejected("foreign", "written for another database, query, price table or label cap")
            state = _decode(data)
        except _checkpoint.Rejected as exc:
            if exc.reason != "missing":
                self._reject(exc.reason, str(exc))
            return False
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            self._reject("corrupt", f"unexpected content ({type(exc).__name__})")
            return False
        prints: dict[str, str] = state["fingerprint"]
        if prints:
            found = self.source.run("fingerprint", params={"ids": [int(i) for i in prints]})["fingerprint"]
            if {str(r["id"]): r["h"] for r in found} != prints:
                self._reject("changed", "the database no longer holds the checkpoint's rows (restored, truncated "
                             "or replaced)")
                return False
        self._reset_state()
        self.cursor, self.first_id, self.newest = state["cursor"], state["first_id"], state["newest"]
        self.series, self.unpriced, self.priced = state["series"], state["unpriced"], state["priced"]
        self._labels = state["labels"]
        self.lower_bound_until = state["lower_bound_until"]
        # ids missed before the restart keep their age, but each is looked up once more before it can expire:
        # a row that committed while the exporter was down is counted, as the running process would have
        now, wall, window = self.monotonic(), self.wall(), float(self.settings.late_commit_window)
        self.watched = {i: now - min(max(0.0, wall - t), window) + 1e-3 for i, t in state["watched"]}
        self.checkpoint_loaded = True
        log.info("llm_spend: started from the checkpoint at id %d (%d usage series)", self.cursor, len(self.series))
        return True

    def _save_checkpoint(self) -> None:
        if self.checkpoint_path is None or self.cursor is None:
            return
        changed = (self.cursor, len(self.watched), self.first_id, self.lower_bound_until)
        if changed == self._written:  # nothing new: skip the write (watched ids only ever leave)
            return
        ids = sorted({i for i in (self.first_id, self.cursor) if i})
        try:
            found = self.source.run("fingerprint", params={"ids": ids})["fingerprint"] if ids else []
        except QueryError as exc:  # the refresh itself succeeded: the next one writes
            log.info("llm_spend: checkpoint not written: %s", exc)
            return
        now_m, now_w = self.monotonic(), self.wall()
        data = {
            "format": CHECKPOINT_FORMAT,
            "identity": self._identity,
            "cursor": self.cursor,
            "first_id": self.first_id,
            "fingerprint": {str(r["id"]): r["h"] for r in found},
            "newest": self.newest,
            "lower_bound_until": self.lower_bound_until,
            "watched": [[i, now_w - (now_m - t)] for i, t in sorted(self.watched.items())],
            "labels": {k: sorted(v) for k, v in self._labels.items()},
            "series": [[*k, *v] for k, v in self.series.items()],
            "unpriced": [[*k, *v] for k, v in self.unpriced.items()],
            "priced": [[*k, [str(x) for x in r.values()], *v] for k, by in self.priced.items() for r, v in by.items()],
        }
        try:
            _checkpoint.write(self.checkpoint_path, data)
        except OSError as exc:
            if self.checkpoint_rejected["write"] == 0:
                log.warning("llm_spend: cannot write the checkpoint %s: %s", self.checkpoint_path, exc.strerror)
            self.checkpoint_rejected["write"] += 1
            return
        self._written = changed

    def stop(self) -> None:
        initial = self._initial_source
        if initial is not None:
            initial.cancel_and_close()
        super().stop()

    # -- accounting ------------------------------------------------------------------------------------------
    def _label(self, kind: str, value: Any, known: bool = False) -> str:
        v = str(value if value is not None else "unknown")[:64] or "unknown"
        if known:
            return v
        seen = self._labels.setdefault(kind, set())
        if v in seen:
            return v
        if len(seen) >= self.settings.max_label_values:
            return OTHER
        seen.add(v)
        return v

    def _labels_of(self, r: dict[str, Any]) -> tuple[tuple[str, str, str], str, str]:
        """``((provider, model, feature) labels, raw provider, raw model)`` of a usage group."""
        key = (r["provider"], r["model"], r["feature"])
        found = self._label_cache.get(key)
        if found is None:
            provider_raw, model_raw = str(key[0] or ""), str(key[1] or "")
            provider = self._label("provider", provider_raw, known=provider_raw in self.prices.providers)
            model = self._label(f"model:{provider}", model_raw, known=self.prices.known(provider_raw, model_raw))
            labels = (provider, model, self._label("feature", key[2]))
            found = self._label_cache[key] = (labels, provider_raw, model_raw)
        return found

    def _add(self, r: dict[str, Any]) -> None:
        """Count one group (or row) of usage: the hot loop of the first refresh, kept to a few dict lookups."""
        k3, provider_raw, model_raw = self._labels_of(r)
        calls, hit, miss, out = r["calls"], r["hit"] or 0, r["miss"] or 0, r["out"] or 0
        acc = self.series.get(k3)
        if acc is None:
            acc = self.series[k3] = [0, 0, 0, 0]
        acc[0] += calls
        acc[1] += hit
        acc[2] += miss
        acc[3] += out
        ts = r["ts"]
        if ts is not None and ts > self.newest:
            self.newest = float(ts)
        bucket = r["bucket"]
        if bucket is None:  # created_at NULL (an overriding query): price at the current time
            found = self.prices.rates(provider_raw, model_raw, datetime.now(UTC))
        else:
            found = self.prices.rates_in_bucket(provider_raw, model_raw, bucket)
        if found is None:
            acc = self.unpriced.get(k3)
            if acc is None:
                acc = self.unpriced[k3] = [0, 0, 0, 0]
            acc[0] += calls
            acc[1] += hit
            acc[2] += miss
            acc[3] += out
            if (provider_raw, model_raw) not in self._warned_unpriced and len(self._warned_unpriced) < 100:
                self._warned_unpriced.add((provider_raw, model_raw))
                log.warning("llm_spend: no price for provider %r model %r at %s: counted in "
                            "lookout_llm_unpriced_tokens_total; add it to the price table", provider_raw[:64],
                            model_raw[:64], _bucket_time(bucket).isoformat())
            return
        # tokens summed per price: the cost is computed when published, exactly, from a few sums per series
        by_rate = self.priced.get(k3)
        if by_rate is None:
            by_rate = self.priced[k3] = {}
        sums = by_rate.get(found[1])
        if sums is None:
            sums = by_rate[found[1]] = [0, 0, 0]
        sums[0] += hit
        sums[1] += miss
        sums[2] += out

    def spend(self) -> dict[tuple[str, str, str], Decimal]:
        """Exact USD per (provider, model, feature): independent of how rows were grouped or batched."""
        return {k3: sum((r.cost(*v) for r, v in by_rate.items()), _ZERO) for k3, by_rate in self.priced.items()}

    def _emit(self, snap: Snapshot) -> None:
        for name in ("lookout_llm_tokens_total", "lookout_llm_spend_usd_total", "lookout_llm_calls_total",
                     "lookout_llm_unpriced_tokens_total",
                     "lookout_llm_unpriced_calls_total"):
            snap.declare(name)
        for (p, m, t), v in sorted(_by_type(self.series).items()):
            snap.add("lookout_llm_tokens_total", v, provider=p, model=m, type=t)
        for (p, m, f), d in sorted(self.spend().items()):
            snap.add("lookout_llm_spend_usd_total", float(d), provider=p, model=m, feature=f)
        for (p, m, f), acc in sorted(self.series.items()):
            snap.add("lookout_llm_calls_total", acc[0], provider=p, model=m, feature=f)
        for (p, m, t), v in sorted(_by_type(self.unpriced).items()):
            snap.add("lookout_llm_unpriced_tokens_total", v, provider=p, model=m, type=t)
        unpriced_calls: dict[tuple[str, str], int] = {}
        for (p, m, _f), acc in self.unpriced.items():
            unpriced_calls[(p, m)] = unpriced_calls.get((p, m), 0) + acc[0]
        for (p, m), v in sorted(unpriced_calls.items()):
            snap.add("lookout_llm_unpriced_calls_total", v, provider=p, model=m)
        snap.add("lookout_llm_usage_cursor_id", self.cursor or 0)
        snap.add("lookout_llm_usage_watched_ids", len(self.watched))
        snap.add("lookout_llm_usage_newest_row_timestamp_seconds", self.newest)
        snap.add("lookout_llm_usage_totals_lower_bound", 1 if self.wall() < self.lower_bound_until else 0)
        snap.add("lookout_llm_usage_checkpoint_loaded", 1 if self.checkpoint_loaded else 0)
        for reason, n in self.checkpoint_rejected.items():
            snap.add("lookout_llm_usage_checkpoint_rejected_total", n, reason=reason)
        snap.add_info("lookout_llm_price_table_info", {}, version=self.prices.version or "unversioned")


def _by_type(series: dict[tuple[str, str, str], list[int]]) -> dict[tuple[str, str, str], int]:
    """Token sums per (provider, model, type), over features."""
    out: dict[tuple[str, str, str], int] = {}
    for (p, m, _f), acc in series.items():
        for i, t in enumerate(TOKEN_TYPES, start=1):
            out[(p, m, t)] = out.get((p, m, t), 0) + acc[i]
    return out


def _identity(settings: LlmSpendSettings, usage: str) -> str:
    """What the totals depend on besides the rows: the database, the row source, the prices, the label cap."""
    try:
        prices = hashlib.sha256(Path(settings.price_table or DEFAULT_PATH).read_bytes()).hexdigest()
    except OSError:
        prices = ""
    parts = [conninfo.database(str(settings.dsn)), usage, prices,
             settings.max_label_values]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _ints(v: Any, n: int) -> list[int]:
    if not isinstance(v, list) or len(v) != n or not all(type(x) is int for x in v):
        raise ValueError("expected integers")
    return v


def _key(v: Any) -> tuple[str, str, str]:
    if not all(isinstance(x, str) for x in v[:3]):
        raise ValueError("expected label values")
    return (v[0], v[1], v[2])


def _decode(d: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's state, type-checked; raises KeyError/TypeError/ValueError on anything unexpected."""
    cursor, first = d["cursor"], d["first_id"]
    if type(cursor) is not int or cursor < 0 or not (first is None or type(first) is int):
        raise ValueError("cursor")
    prints = d["fingerprint"]
    if not isinstance(prints, dict) or not all(isinstance(v, str) and k.isdigit() for k, v in prints.items()):
        raise ValueError("fingerprint")
    series = {_key(r): _ints(r[3:], 4) for r in d["series"]}
    unpriced = {_key(r): _ints(r[3:], 4) for r in d["unpriced"]}
    priced: dict[tuple[str, str, str], dict[Rates, list[int]]] = {}
    interned: dict[tuple[str, ...], Rates] = {}
    for r in d["priced"]:
        values = tuple(r[3])
        if len(values) != 3 or not all(isinstance(x, str) for x in values):
            raise ValueError("rates")
        rates = interned.get(values)
        if rates is None:
            prices = [Decimal(x) for x in values]
            if not all(p.is_finite() and p >= 0 for p in prices):
                raise ValueError("rates")
            rates = interned[values] = Rates(*prices)
        by = priced.setdefault(_key(r), {})
        sums = _ints(r[4:], 3)
        # equal prices from different periods are one entry now: the cost is linear, the sum is the same
        by[rates] = [a + b for a, b in zip(by.get(rates, [0, 0, 0]), sums, strict=True)]
    labels = {str(k): set(v) for k, v in d["labels"].items() if all(isinstance(x, str) for x in v)}
    watched = [(int(i), float(t)) for i, t in d["watched"]]
    return {"cursor": cursor, "first_id": first, "fingerprint": prints, "newest": float(d["newest"]),
            "lower_bound_until": float(d["lower_bound_until"]), "series": series, "unpriced": unpriced,
            "priced": priced, "labels": labels, "watched": watched}


def _bucket_time(bucket: Any) -> datetime:
    if bucket is None:  # created_at NULL (an overriding query): price at the current time
        return datetime.now(UTC)
    return datetime.fromtimestamp(int(bucket) * GRANULARITY_SECONDS, UTC)


COLLECTOR = LlmSpendCollector

"""Reads kombu's Redis transport layout: queue depth over priority sub-queues, unacked messages, ages.

Reads (one pipelined MULTI per refresh, plus one HMGET round only when new unacked messages appeared):
a Lua script (``LISTS_LUA``) running ``LLEN``/``LPOS`` and, when the oldest message changed,
``LINDEX``/cjson over every ``<queue>`` and ``<queue><sep><step>`` list, cjson over at most
``ARRIVALS_BUDGET`` newly arrived messages, then ``ZRANGE unacked_index`` bounded by ``max_unacked`` and
``ZCARD``; the exporter's own hashes (last-success times, saved oldest-message dates); every minute a
``SCAN`` for ``_kombu.binding.*`` sets to discover queues. Nothing reads whole queues, so the cost does
not grow with queue length.
Publishes: ``BrokerReading`` (per queue: ready, reserved, oldest ready enqueue time, oldest reserved
delivery time, unparseable inspected messages) for every known queue up to ``max_discovered`` (configured
ones first; past that bound ``unread`` counts the queues left out, so totals are a lower bound), and
``QueueSelector``, which picks the queues published by name (configured first, then the deepest, with
hysteresis) and folds the rest into one ``OTHER`` reading so totals stay exact.

Layout (kombu 5.x ``kombu/transport/redis.py``): producers LPUSH to ``<queue>`` for priority step 0
and to ``<queue><sep><step>`` for the others, consumers RPOP the far end. A delivered message stays
in the ``unacked`` hash (delivery tag -> JSON ``[message, exchange, routing_key]``) and in the
``unacked_index`` sorted set (score = delivery time) until acked; the queue is not recorded, so it is
resolved like kombu's restore does: the anonymous exchange routes to the queue named by the routing
key, others through the ``_kombu.binding.<exchange>`` set (members ``routing_key<sep>pattern<sep>queue``).
``global_keyprefix`` prefixes every key.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import redis

from lookout.exporters.celery_hooks import MAX_HSET_LUA, STAMP_HEADER
from lookout.exporters.collectors._celery_age import AgeTracker

DEFAULT_SEP = "\x06\x16"
HEADS_TTL = 3600
OLDEST_TTL = 7 * 86400
OLDEST_LUA = """
local ndel = tonumber(ARGV[2])
for i = 3, 2 + ndel do redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = 3 + ndel, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""
NO_PREVIOUS_HEAD = -2
# newly arrived messages JSON-checked per refresh, over all lists: a constant cost (~1 ms in Redis for 64
# Celery messages of 1 KiB)
ARRIVALS_BUDGET = 64
# Per list key: the position of the newest element of the previous refresh (LPOS from the head, bounded by
# MAXLEN; -1 when gone, -2 when not recorded), remembered server-side so no payload crosses the wire; LLEN; and
# the oldest element's stamp header / whether it is valid JSON (cjson, decoded only when the oldest element
# changed: the result is cached beside it); the head positions of malformed messages among those that arrived
# since the previous refresh (at most ``ARRIVALS_BUDGET`` decoded per refresh over all lists). Then the oldest
# ``max_unacked`` entries of the unacked index with delivery times, and its size. Returned as strings: one bulk
# reply is far cheaper to parse than hundreds of elements.
LISTS_LUA = """
local heads, idx, maxlen, header, ttl = KEYS[#KEYS - 1], KEYS[#KEYS], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local budget, max_unacked = tonumber(ARGV[4]), tonumber(ARGV[5])
local out, n, EMPTY = {}, #KEYS - 2, 'empty'
for i = 1, n do
  local k = KEYS[i]
  local len = redis.call('LLEN', k)
  local pos, res, badpos = -2, '0,,0,', {}
  local same = false
  local prev = redis.call('HMGET', heads, k, k .. ':r')
  if len == 0 then
    if prev[2] == EMPTY then
      same = true
    else
      redis.call('HDEL', heads, k, k .. ':t')
      redis.call('HSET', heads, k .. ':r', EMPTY)
    end
  else
    if prev[1] then
      local p = redis.call('LPOS', k, prev[1], 'MAXLEN', maxlen)
      if p then pos = p else pos = -1 end
    end
    if pos ~= 0 then redis.call('HSET', heads, k, redis.call('LINDEX', k, 0)) end
    local cached = prev[2]
    local cached_len = cached and tonumber(string.match(cached, '^(%d+),'))
    if pos == 0 and cached_len == len then
      res, same = cached, true  -- nothing arrived, nothing left: same oldest message
    else
      local tail = redis.call('LINDEX', k, -1)
      local stamp, bad, sha = '', 0, ''
      if cached and tail == redis.call('HGET', heads, k .. ':t') then
        stamp, bad, sha = string.match(cached, '^%d+,([^,]*),(%d),(%x*)$')
      else
        local ok, msg = pcall(cjson.decode, tail)
        if ok and type(msg) == 'table' then
          local h = msg['headers']
          if type(h) == 'table' and type(h[header]) == 'number' then stamp = string.format('%.6f', h[header]) end
        else
          bad = 1
        end
        sha = redis.sha1hex(tail)
        redis.call('HSET', heads, k .. ':t', tail)
      end
      res = len .. ',' .. stamp .. ',' .. bad .. ',' .. sha
      redis.call('HSET', heads, k .. ':r', res)
    end
    -- messages that arrived since the previous refresh (all of them when it is unknown) sit at the head:
    -- validate the newest of them, within a budget shared by every list, so junk is seen when it lands
    local arrived = pos
    if pos < 0 then arrived = len end
    local n = math.min(arrived, budget)
    if n > 0 then
      budget = budget - n
      for j, m in ipairs(redis.call('LRANGE', k, 0, n - 1)) do
        local ok, msg = pcall(cjson.decode, m)
        if not (ok and type(msg) == 'table') then badpos[#badpos + 1] = j - 1 end
      end
    end
  end
  -- unchanged since the previous refresh (same length, same newest and oldest message): the caller reuses
  -- its previous result, so neither side formats nor parses the row again
  if same then out[#out + 1] = '=' else out[#out + 1] = pos .. ',' .. res .. ',' .. table.concat(badpos, '.') end
end
redis.call('EXPIRE', heads, ttl)
-- the oldest max_unacked deliveries only, and the total: the reply stays bounded however many are held
return {table.concat(out, ';'), table.concat(redis.call('ZRANGE', idx, 0, max_unacked - 1, 'WITHSCORES'), ' '),
        redis.call('ZCARD', idx)}
"""
# the queue_name of the folded queues' sum; a leading underscore keeps it apart from Celery's own names
OTHER = "_other"
# a queue outside the published set displaces a member only when this many times deeper, so series do not flap
HYSTERESIS = 2
DEFAULT_MAX_DISCOVERED = 10_000
# a queue name longer than this never becomes a label value (it is folded, so still counted)
MAX_NAME_LENGTH = 200
# exchanges celery uses for remote control, replies and events: no task queues behind them
_SKIP_EXCHANGE_SUFFIXES = ("pidbox", "celeryev")


@dataclass
class QueueReading:
    ready: int = 0
    reserved: int = 0
    oldest_enqueued: float | None = None  # estimated enqueue time of the oldest ready message
    oldest_delivered: float | None = None  # delivery time of the oldest unacked message
    unparseable: int = 0


@dataclass
class BrokerReading:
    queues: dict[str, QueueReading] = field(default_factory=dict)
    unacked_total: int = 0
    unacked_unattributed: int = 0
    unacked_unparseable: int = 0
    state: dict[str, float] = field(default_factory=dict)
    discovered: int = 0  # distinct queues known (configured + bound), including those beyond the bound
    unread: int = 0  # known queues beyond ``max_discovered``: not read, so every total is a lower bound


def fold(readings: list[QueueReading]) -> QueueReading:
    """One reading whose counts are the sums and whose ages are the oldest of ``readings``."""
    out = QueueReading()
    for qr in readings:
        out.ready += qr.ready
        out.reserved += qr.reserved
        out.unparseable += qr.unparseable
        if qr.oldest_enqueued is not None and qr.ready:
            out.oldest_enqueued = qr.oldest_enqueued if out.oldest_enqueued is None else min(
                out.oldest_enqueued, qr.oldest_enqueued)
        if qr.oldest_delivered is not None:
            out.oldest_delivered = qr.oldest_delivered if out.oldest_delivered is None else min(
                out.oldest_delivered, qr.oldest_delivered)
    return out


class QueueSelector:
    """Which queues get their own series: the configured ones first, then the deepest (ready + reserved).

    A queue already shown keeps its place until another is ``HYSTERESIS`` times deeper, and among equals the
    shown ones win, so series neither flap nor churn while a queue that becomes deep enters at the next refresh.
    """

    def __init__(self, configured: list[str], max_queues: int):
        self.configured = list(dict.fromkeys(configured))
        self.max_queues = max_queues
        self.shown: set[str] = set()

    def select(self, queues: dict[str, QueueReading]) -> tuple[dict[str, QueueReading], int]:
        """(published readings, with ``OTHER`` holding the folded sum when any; number of queues folded)."""
        # a real queue called like the fold, or with an overlong name, is always folded: still in the totals
        fixed = [q for q in self.configured if q in queues and q != OTHER][: self.max_queues]
        room = self.max_queues - len(fixed)
        fixed_set = set(fixed)
        rest = [q for q in queues if q not in fixed_set and q != OTHER and len(q) <= MAX_NAME_LENGTH]
        chosen: list[str] = []
        if len(rest) <= room:
            chosen = rest
        elif room > 0:
            shown = self.shown

            def rank(q: str) -> tuple[int, bool, str]:
                depth = queues[q].ready + queues[q].reserved
                return (-depth * HYSTERESIS if q in shown else -depth, q not in shown, q)

            chosen = heapq.nsmallest(room, rest, key=rank)
        self.shown = set(chosen)
        published = {q: queues[q] for q in fixed + sorted(chosen)}
        folded = [qr for q, qr in queues.items() if q not in published]
        if folded:
            published[OTHER] = fold(folded)
        return published, len(folded) - (OTHER in queues)


def parse_binding_member(member: bytes | str, sep: str) -> tuple[str, str, str] | None:
    text = member.decode() if isinstance(member, bytes) else member
    parts = text.split(sep)
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


def unacked_route(raw: bytes) -> tuple[str, str] | None:
    """(exchange, routing_key) of an ``unacked`` hash value, or None when malformed."""
    try:
        _msg, exchange, routing_key = json.loads(raw)
        return str(exchange or ""), str(routing_key or "")
    except (ValueError, TypeError):
        return None


class BrokerInspector:
    """Keeps the Redis client, discovered queues, per-list age trackers and the unacked attribution cache."""

    def __init__(
        self,
        url: str,
        *,
        queues: list[str],
        discover: bool,
        priority_steps: list[int],
        sep: str,
        prefix: str,
        state_key: str,
        timeout: float,
        max_unacked: int,
        max_discovered: int = DEFAULT_MAX_DISCOVERED,
        lpos_maxlen: int = 1000,
        discover_every: float = 60.0,
        arrivals_budget: int = ARRIVALS_BUDGET,
    ):
        self.url, self.timeout = url, timeout
        self.configured = list(queues)
        self.discover = discover
        self.steps = sorted(set(priority_steps))
        self.sep, self.prefix = sep, prefix
        self.state_key = prefix + state_key
        self.max_unacked, self.max_discovered = max_unacked, max_discovered
        self.lpos_maxlen, self.arrivals_budget = lpos_maxlen, arrivals_budget
        self.discover_every = discover_every
        self._client: redis.Redis | None = None
        self._discovered: list[str] = []
        self._bindings: dict[str, list[tuple[str, str, str]]] = {}
        self._bindings_cut = 0  # binding members beyond the discovery bound, not read
        self._next_discovery = 0.0
        self._trackers: dict[str, AgeTracker] = {}
        self._routes: OrderedDict[str, str | None] = OrderedDict()  # delivery tag -> queue (None: unknown)
        self._sha: str | None = None
        self._known: set[str] = set()
        # (known names, queues read, (queue, list key) pairs, list keys, set of queues read) while names stay
        self._layout: tuple[list[str], list[str], list[tuple[str, str]], list[str], set[str]] = ([], [], [], [], set())
        self._restarted = True  # some list (re)starts being tracked: load the saved oldest-message dates
        self._index_text: str | None = None  # the unacked index as last read, and what it was attributed to
        self._attributed: tuple[dict[str, tuple[int, float]], int, int, int] = ({}, 0, 0, 0)
        self._index_len = 0
        # per list: (length, oldest enqueue time, unparseable) of the last refresh, reused when the script
        # answers "=" (unchanged); lists forgotten here are forgotten by the script at the next refresh
        self._last: dict[str, tuple[int, float | None, int]] = {}
        self._heads_forget: list[str] = []
        # per list: sha1 of its oldest message and our estimate of its enqueue time, shared by exporter runs
        self.oldest_key = f"{self.state_key}:oldest"
        self._oldest_written: dict[str, str] = {}
        self._oldest_pending: dict[str, str] = {}
        # where the script keeps each list's newest element between refreshes (one per exporter process)
        self.heads_key = f"{self.state_key}:heads:{uuid.uuid4().hex[:12]}"

    # --- connection -------------------------------------------------------------------------------
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout, health_check_interval=0
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def key(self, queue: str, step: int) -> str:
        # kombu's _q_for_pri: step 0 is the bare list name
        return f"{self.prefix}{queue}{self.sep}{step}" if step else f"{self.prefix}{queue}"

    def known_names(self) -> list[str]:
        """Every queue known: configured first, then the discovered ones (sorted); ``celery`` if none."""
        return list(dict.fromkeys(self.configured + self._discovered)) or ["celery"]

    # --- discovery --------------------------------------------------------------------------------
    def maybe_discover(self, now: float) -> None:
        if now < self._next_discovery:
            return
        self._next_discovery = now + self.discover_every
        r = self.client()
        pattern = f"{self.prefix}_kombu.binding.*"
        keys = [k.decode() for k in r.scan_iter(match=pattern, count=1000)]
        start = len(self.prefix) + len("_kombu.binding.")
        exchanges = [k[start:] for k in keys]
        exchanges = sorted(e for e in exchanges if e and not e.endswith(_SKIP_EXCHANGE_SUFFIXES))
        pipe = r.pipeline(transaction=False)
        for e in exchanges:
            pipe.scard(f"{self.prefix}_kombu.binding.{e}")
        cards = pipe.execute()
        # the binding members read per discovery are bounded too: twice the queues read (a queue is usually
        # bound once or twice); those left out count as unread, so the totals say they are a lower bound
        budget, cut = 2 * self.max_discovered, 0
        partial: dict[str, int] = {}
        for e, card in zip(exchanges, cards, strict=True):
            n = min(int(card), max(0, budget))
            budget -= n
            if n < int(card):
                partial[e], cut = n, cut + int(card) - n
        pipe = r.pipeline(transaction=False)
        whole = [e for e in exchanges if e not in partial]
        for e in whole:
            pipe.smembers(f"{self.prefix}_kombu.binding.{e}")
        read: dict[str, Any] = dict(zip(whole, pipe.execute(), strict=True))
        for e, n in partial.items():  # pathological sizes: an SSCAN walk (same order each time) up to the bound
            read[e] = list(itertools.islice(r.sscan_iter(f"{self.prefix}_kombu.binding.{e}", count=1000), n))
        replies = [read[e] for e in exchanges]
        bindings: dict[str, list[tuple[str, str, str]]] = {}
        found: list[str] = []
        for e, members in zip(exchanges, replies, strict=True):
            parsed = [b for b in (parse_binding_member(m, self.sep) for m in members) if b]
            bindings[e] = parsed
            found.extend(q for _rk, _pat, q in parsed if q)
        self._bindings = bindings
        self._bindings_cut = cut
        if self.discover:
            self._discovered = sorted(set(found))

    def route(self, exchange: str, routing_key: str, known: set[str]) -> str | None:
        if not exchange:
            return routing_key if routing_key in known else None
        for rk, _pattern, queue in self._bindings.get(exchange, ()):
            if rk == routing_key and queue in known:
                return queue
        return routing_key if routing_key in known else None

    # --- one refresh ------------------------------------------------------------------------------
    def _lists_script(self, pipe: Any, keys: list[str]) -> None:
        if self._sha is None:
            self._sha = self.client().script_load(LISTS_LUA)
        pipe.evalsha(self._sha, len(keys) + 2, *keys, self.heads_key, f"{self.prefix}unacked_index",
                     self.lpos_maxlen, STAMP_HEADER, HEADS_TTL, self.arrivals_budget, self.max_unacked)

    def read(self, persist: dict[str, float], _retry: bool = False) -> BrokerReading:
        """One pipelined MULTI (plus one HMGET when new unacked messages need attributing).

        ``persist``: last-success times to raise in the state hash in the same round.
        """
        now = time.time()
        self.maybe_discover(now)
        r = self.client()
        known = self.known_names()
        if known != self._layout[0]:
            # every known queue is read (up to the bound), whatever max_queues: it only decides which get a name
            queues = known[: self.max_discovered]
            lists = [(q, self.key(q, s)) for q in queues for s in self.steps]
            self._layout = (known, queues, lists, [k for _q, k in lists], set(queues))
            self._restarted = True
        _known, queues, lists, keys, queue_set = self._layout
        # saved oldest-message dates are needed only when a list starts (or restarts) being tracked
        load_oldest = self._restarted
        self._restarted = False
        for attempt in (1, 2):
            pipe = r.pipeline(transaction=True)
            if self._heads_forget:
                fields = [f for k in self._heads_forget for f in (k, f"{k}:t", f"{k}:r")]
                pipe.hdel(self.heads_key, *fields)
            self._write_oldest(pipe)
            if load_oldest:
                pipe.hgetall(self.oldest_key)
            self._lists_script(pipe, keys)
            if persist:
                args: list[Any] = []
                for name, ts in persist.items():
                    args += [name, repr(float(ts))]
                pipe.eval(MAX_HSET_LUA, 1, self.state_key, *args)
            pipe.hgetall(self.state_key)
            try:
                results = pipe.execute()
                break
            except redis.exceptions.NoScriptError:  # Redis restarted or SCRIPT FLUSH
                self._sha = None
                if attempt == 2:
                    raise
        now = time.time()
        if self._heads_forget:
            results = results[1:]
            self._heads_forget = []
        if self._oldest_pending:
            results = results[1:]
            self._oldest_written.update(self._oldest_pending)
            self._oldest_pending = {}
        stored: dict[str, tuple[str, float]] = {}
        if load_oldest:
            for k, v in results[0].items():
                sha, _sp, ts = v.decode().partition(" ")
                with contextlib.suppress(ValueError):
                    stored[k.decode()] = (sha, float(ts))
            results = results[1:]
        lists_text, index_text = results[0][0].decode(), results[0][1].decode()
        index_size = int(results[0][2])
        rows = lists_text.split(";") if lists_text else []
        lost = [key for (_q, key), row in zip(lists, rows, strict=True) if row == "=" and key not in self._last]
        if lost and not _retry:  # the script remembers a list we forgot: make it forget too, read again
            self._heads_forget, self._restarted = lost, load_oldest
            return self.read({}, _retry=True)
        state = results[-1]

        cut = self._bindings_cut if self.discover else 0
        out = BrokerReading(discovered=len(known) + cut, unread=len(known) - len(queues) + cut)
        for q in queues:
            out.queues[q] = QueueReading()
        last = self._last
        for (q, key), row in zip(lists, rows, strict=True):
            if row == "=":
                length, enqueued, unparseable = last.get(key, (0, None, 0))
            else:
                length, enqueued, unparseable = last[key] = self._list_row(key, row, now, stored)
            if length:
                qr = out.queues[q]
                qr.ready += length
                qr.unparseable += unparseable
                if enqueued is not None:
                    qr.oldest_enqueued = enqueued if qr.oldest_enqueued is None else min(qr.oldest_enqueued, enqueued)
        if load_oldest or len(self._trackers) != len(keys):
            self._forget_trackers(set(keys))
        for k, v in state.items():
            with contextlib.suppress(ValueError):
                out.state[k.decode()] = float(v)
        self._attribute_unacked(r, index_text, queue_set, out)
        out.unacked_total = max(index_size, out.unacked_total)
        out.unacked_unattributed += out.unacked_total - self._index_len  # beyond max_unacked: not read
        return out

    def _list_row(self, key: str, row: str, now: float,
                  stored: dict[str, tuple[str, float]]) -> tuple[int, float | None, int]:
        """(length, estimated or stamped enqueue time of the oldest message, unparseable waiting) of one list."""
        pos_s, length_s, stamp, bad, sha, bad_arrivals = row.split(",")
        length, pos = int(length_s), int(pos_s)
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = AgeTracker(lpos_maxlen=self.lpos_maxlen)
        elif tracker.head is not None and pos == NO_PREVIOUS_HEAD:
            tracker.started = False  # our record of the newest message was lost: start over
        if not tracker.started and length:
            prior = stored.get(key)
            # the oldest message is the one a previous run dated: keep its date across the restart
            tracker.reset(now, length, b"1", prior[1] if prior and prior[0] == sha else None)
            prev_pos = 0
        else:
            prev_pos = int(pos) if pos >= 0 else None
        enqueued = tracker.update(now, length, b"1" if length else None, prev_pos)
        tracker.note_malformed([int(p) for p in bad_arrivals.split(".") if p])
        self._remember_oldest(key, sha if length else "", enqueued if not stamp else None)
        unparseable = tracker.malformed_waiting(oldest_malformed=bad == "1")
        if stamp:
            enqueued = float(stamp)
        return length, enqueued if length else None, unparseable

    def _remember_oldest(self, key: str, sha: str, enqueued: float | None) -> None:
        value = f"{sha} {enqueued!r}" if sha and enqueued is not None else ""
        if self._oldest_written.get(key, "") != value:
            self._oldest_pending[key] = value

    def _write_oldest(self, pipe: Any) -> None:
        if not self._oldest_pending:
            return
        sets = {k: v for k, v in self._oldest_pending.items() if v}
        dels = [k for k, v in self._oldest_pending.items() if not v]
        # one MULTI-queued command either way, so the reply offsets stay fixed
        pipe.eval(OLDEST_LUA, 1, self.oldest_key, OLDEST_TTL, len(dels), *dels,
                  *[x for kv in sets.items() for x in kv])

    def _forget_trackers(self, live: set[str]) -> None:
        for key in [k for k in self._trackers if k not in live]:
            del self._trackers[key]
            self._last.pop(key, None)
            self._heads_forget.append(key)

    def _attribute_unacked(self, r: redis.Redis, index_text: str, known: set[str], out: BrokerReading) -> None:
        """Per queue reserved count and oldest delivery, from the oldest ``max_unacked`` index entries."""
        if known != self._known:  # routes were resolved against another set of queues
            self._routes.clear()
            self._known = known
            self._index_text = None
        if index_text != self._index_text:  # else: same deliveries, same routes as last time
            self._index_text = index_text
            self._attributed = self._attribute(r, index_text, known)
        per_queue, unparseable, unattributed, self._index_len = self._attributed
        out.unacked_total = self._index_len
        out.unacked_unparseable += unparseable
        out.unacked_unattributed += unattributed
        for queue, (reserved, oldest) in per_queue.items():
            qr = out.queues[queue]
            qr.reserved += reserved
            qr.oldest_delivered = oldest if qr.oldest_delivered is None else min(qr.oldest_delivered, oldest)

    def _attribute(self, r: redis.Redis, index_text: str,
                   known: set[str]) -> tuple[dict[str, tuple[int, float]], int, int, int]:
        flat = index_text.split()
        index = [(flat[j], float(flat[j + 1])) for j in range(0, len(flat) - 1, 2)]
        tags = [t for t, _s in index]
        new = [t for t in tags if t not in self._routes][: self.max_unacked]
        if new:
            raws = r.hmget(f"{self.prefix}unacked", new)
            for tag, raw in zip(new, raws, strict=True):
                if raw is None:  # acked between the two rounds, or an index entry without its message
                    self._routes[tag] = None
                    continue
                route = unacked_route(raw)
                if route is None:
                    self._routes[tag] = "\0bad"
                else:
                    self._routes[tag] = self.route(route[0], route[1], known)
        live = set(tags)
        for tag in [t for t in self._routes if t not in live]:
            del self._routes[tag]
        while len(self._routes) > self.max_unacked:
            self._routes.popitem(last=False)
        per_queue: dict[str, tuple[int, float]] = {}
        unparseable = unattributed = 0
        for tag, score in index:
            queue = self._routes.get(tag, "")
            if queue == "\0bad":
                unparseable += 1
            elif queue and queue in known:
                n, oldest = per_queue.get(queue, (0, score))
                per_queue[queue] = (n + 1, min(oldest, score))
            else:
                unattributed += 1
        return per_queue, unparseable, unattributed, len(index)

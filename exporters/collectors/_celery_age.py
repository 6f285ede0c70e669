"""Waiting-age estimate for one Redis list of a kombu queue (one priority sub-queue), without LRANGE.

Reads: per refresh, the list's length, its newest element (``LINDEX 0``), and the position of the
previous refresh's newest element counted from the head (``LPOS ... MAXLEN m``), all from one pipeline.
Publishes: ``AgeTracker.update()`` returning the estimated enqueue time of the oldest element.

kombu LPUSHes new messages and workers RPOP/BRPOP the other end, so the list is FIFO. Numbering
messages by arrival (ordinals), the position of the previous newest element tells how many arrived
since the last refresh; with the length that gives how many were consumed, so the oldest waiting
message is ordinal ``pops + 1``. Each refresh records ``(newest ordinal, time)``: a message whose
ordinal falls between two records arrived between those two refreshes, so its age is known to within
one refresh interval, and it is always a lower bound (the later record is used). Messages already
waiting when tracking (re)started are dated to that moment: their age is a lower bound only.
Anything that breaks FIFO arithmetic (kombu restoring unacked messages to the consuming end, a purge,
more than ``m`` arrivals in one interval on a list longer than ``m``) resets the tracking.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_SAMPLES = 2048


@dataclass
class AgeTracker:
    lpos_maxlen: int = 1000
    head: bytes | None = None  # newest element at the previous refresh
    started: bool = False
    pushes: int = 0  # ordinal of the newest message seen
    pops: int = 0  # messages known to have left the list
    base: int = 0  # messages up to this ordinal were already waiting when tracking (re)started
    samples: deque[tuple[int, float]] = field(default_factory=deque)  # (newest ordinal, time), ascending
    malformed: set[int] = field(default_factory=set)  # ordinals of waiting messages seen arriving as bad JSON

    def reset(self, now: float, length: int, head: bytes | None, oldest_since: float | None = None) -> None:
        """Start over; ``oldest_since`` dates the oldest message when a previous run knew it."""
        self.started, self.head = True, head
        self.pops = 0
        self.malformed.clear()  # ordinals restart: what was seen before is no longer placeable
        self.pushes = self.base = length
        self.samples = deque([(length, now)])
        if oldest_since is not None and length > 0 and oldest_since < now:
            self.samples.appendleft((1, oldest_since))

    def update(self, now: float, length: int, head: bytes | None, prev_head_pos: int | None) -> float | None:
        """Feed one refresh; return the estimated enqueue time of the oldest message (None if empty)."""
        if not self.started:
            self.reset(now, length, head)
        else:
            self._advance(now, length, head, prev_head_pos)
        if length <= 0:
            return None
        oldest = self.pops + 1
        # forget records of consumed messages, keeping the first record at or after the oldest
        while len(self.samples) > 1 and self.samples[0][0] < oldest:
            self.samples.popleft()
        return self.samples[0][1]

    def note_malformed(self, head_positions: list[int]) -> None:
        """Record malformed messages among this refresh's arrivals, by position from the head (0 = newest).

        Call after ``update``. They are forgotten once consumed; at most ``MAX_SAMPLES`` are kept per list.
        """
        for p in head_positions:
            if len(self.malformed) < MAX_SAMPLES:
                self.malformed.add(self.pushes - p)

    def malformed_waiting(self, oldest_malformed: bool) -> int:
        """Malformed messages still in the list: those seen arriving plus the oldest if it is one."""
        self.malformed = {o for o in self.malformed if o > self.pops}
        oldest = self.pops + 1
        return len(self.malformed) + (1 if oldest_malformed and oldest not in self.malformed else 0)

    @property
    def exact(self) -> bool:
        """True when the oldest message arrived while tracked (age known to one refresh interval)."""
        return self.pops + 1 > self.base

    def _advance(self, now: float, length: int, head: bytes | None, prev_pos: int | None) -> None:
        if length == 0:
            self.pops, self.head = self.pushes, None  # everything seen was consumed
            self.samples = deque([(self.pushes, now)])
            return
        if self.head is None:
            self.pops = self.pushes  # the list was empty: everything in it arrived since
            arrived = length
        elif prev_pos is not None:
            arrived = prev_pos
        elif length <= self.lpos_maxlen:
            # the previous newest is gone: it and everything older were consumed
            self.pops = self.pushes
            arrived = length
        else:  # too many arrivals to count on a long list
            self.reset(now, length, head)
            return
        pushes = self.pushes + arrived
        pops = pushes - length
        if pops < self.pops:  # a message came back to the consuming end (kombu restore) or a purge
            self.reset(now, length, head)
            return
        self.pushes, self.pops, self.head = pushes, pops, head
        if arrived:
            self.samples.append((pushes, now))
            if len(self.samples) > MAX_SAMPLES:
                # dropping the oldest record dates its messages by the next one: still a lower bound
                self.samples.popleft()

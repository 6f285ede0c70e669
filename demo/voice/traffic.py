"""Call generator of the voice platform: what ElevenLabs would send while customers' agents take calls.

Every ``call_rate`` per minute it starts a conversation: registers it in the (fake) ElevenLabs API
(``/_control/conversation``, status ``in-progress``), sends the signed ``conversation_initiation``
webhook, and after ``duration / speed`` seconds marks it ``done`` there and sends the signed
``post_call_transcription`` webhook with ``metadata.call_duration_secs``.
Fault ``drop-end-webhooks``: that share of the calls started while it is on never get their end webhook
(chosen by error diffusion, so 30% is 30% of every ten calls, not 30% on average). A webhook that
fails (app down) is lost, as ElevenLabs does not retry by default.
Also tops up customers whose balance runs low, so a long-running demo never goes negative by itself.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import random
import threading
import time
import uuid

import requests

from lookout.demo.db import Lazy
from lookout.demo.faults import FaultStore
from lookout.demo.settings import Settings
from lookout.demo.voice.signature import sign

log = logging.getLogger("lookout.demo.voice.traffic")


class CallGenerator(threading.Thread):
    def __init__(self, settings: Settings, faults: FaultStore, stop: threading.Event):
        super().__init__(name="voice-traffic", daemon=True)
        self.s, self.faults, self.stop_event = settings, faults, stop
        self.db = Lazy(settings.voice_db, "demo-voice-traffic")
        self.http = requests.Session()
        self.pending: list[tuple[float, str, dict]] = []  # (due, conversation id, call)
        self.dropped_owed = 0.0
        self.started = self.ended = self.dropped = self.failed = 0
        self._agents: list[str] = []

    def agents(self) -> list[str]:
        if not self._agents:
            self._agents = [r[0] for r in self.db.get().execute(
                "SELECT elevenlabs_agent_id FROM customer_agents WHERE is_active ORDER BY id").fetchall()]
        return self._agents

    def _post(self, event: dict) -> bool:
        body = json.dumps(event).encode()
        try:
            r = self.http.post(f"{self.s.voice_base}/webhooks/elevenlabs", data=body, timeout=self.s.http_timeout,
                               headers={"Content-Type": "application/json",
                                        "ElevenLabs-Signature": sign(body, self.s.webhook_secret)})
            if r.status_code == 200:
                return True
            log.warning("webhook %s answered %s", event["type"], r.status_code)
        except requests.RequestException as exc:
            log.warning("webhook %s failed: %s", event["type"], type(exc).__name__)
        self.failed += 1
        return False

    def _provider(self, control: str, payload: dict) -> None:
        try:
            self.http.post(f"{self.s.elevenlabs_base}/_control/{control}", json=payload, timeout=self.s.http_timeout)
        except requests.RequestException as exc:
            log.warning("fake ElevenLabs %s failed: %s", control, type(exc).__name__)

    def start_call(self) -> None:
        agent = random.choice(self.agents())
        lo, hi = self.s.call_duration_range()
        duration = random.randint(lo, hi)
        cid = "conv_" + uuid.uuid4().hex[:26]
        now = time.time()
        share = self.faults.value("drop-end-webhooks") or 0.0
        self.dropped_owed += min(max(share, 0.0), 1.0)
        drop = self.dropped_owed >= 1.0
        if drop:
            self.dropped_owed -= 1.0
        call = {"agent": agent, "start": int(now), "duration": duration, "drop": drop}
        self._provider("conversation", {"conversation_id": cid, "agent_id": agent, "start_time_unix_secs": int(now),
                                        "call_duration_secs": duration, "status": "in-progress"})
        self._post({"type": "conversation_initiation", "event_timestamp": int(now),
                    "data": {"agent_id": agent, "conversation_id": cid,
                             "metadata": {"start_time_unix_secs": int(now)}}})
        self.started += 1
        heapq.heappush(self.pending, (now + duration / self.s.speed, cid, call))

    def end_call(self, cid: str, call: dict) -> None:
        self._provider("update_conversation", {"conversation_id": cid, "status": "done"})
        if call["drop"]:
            self.dropped += 1
            return
        if self._post({"type": "post_call_transcription", "event_timestamp": int(time.time()),
                       "data": {"agent_id": call["agent"], "conversation_id": cid, "status": "done",
                                "transcript": [{"role": "agent", "message": "Hello, how can I help?"}],
                                "metadata": {"start_time_unix_secs": call["start"],
                                             "call_duration_secs": call["duration"]}}}):
            self.ended += 1

    def top_up(self) -> None:
        conn = self.db.get()
        with conn.transaction():
            low = conn.execute("UPDATE customer_credits SET balance_credits = balance_credits + 1000000, "
                               "updated_at = now() WHERE balance_credits < 100000 RETURNING customer_id").fetchall()
            for (customer,) in low:
                conn.execute("INSERT INTO credit_transactions (customer_id, delta_credits, reason) "
                             "VALUES (%s, 1000000, 'top_up')", (customer,))

    def run(self) -> None:
        # calls placed before the app listens would be lost webhooks: not the healthy baseline
        while not self.stop_event.wait(0.5):
            with contextlib.suppress(requests.RequestException):
                if self.http.get(f"{self.s.voice_base}/health", timeout=2).status_code == 200:
                    break
        owed, last, next_top_up = 1.0, time.monotonic(), 0.0
        while not self.stop_event.wait(0.2):
            now = time.monotonic()
            owed += self.s.call_rate / 60 * (now - last)
            last = now
            try:
                while owed >= 1:
                    owed -= 1
                    self.start_call()
                while self.pending and self.pending[0][0] <= time.time():
                    _, cid, call = heapq.heappop(self.pending)
                    self.end_call(cid, call)
                if now >= next_top_up:
                    next_top_up = now + 60
                    self.top_up()
            except Exception as exc:  # the generator must outlive a database restart
                log.warning("call generator: %s", exc)
                self.db.reset()
                self._agents = []
                owed = min(owed, 1.0)
        # the demo is stopping: hang up the calls in progress, or a restarted demo would report them as
        # missed end webhooks
        while self.pending:
            _, cid, call = heapq.heappop(self.pending)
            call["duration"] = max(1, int(time.time()) - call["start"])
            self.end_call(cid, call)

    def stats(self) -> dict:
        return {"started": self.started, "ended": self.ended, "dropped": self.dropped, "failed": self.failed,
                "in_progress": len(self.pending)}

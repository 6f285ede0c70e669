"""Fake DeepSeek and ElevenLabs APIs: real HTTP on loopback, following the providers' documented payloads.

Used by the tests (``tests/test_providers*.py``, the collectors' tests) and by the demo (``python -m lookout.demo up``).

``FakeDeepSeek`` serves
  - ``GET /user/balance``: ``{"is_available", "balance_infos": [{"currency", "total_balance", "granted_balance",
    "topped_up_balance"}]}`` with amounts as strings, one entry per currency;
  - ``POST /chat/completions`` (also under ``/v1``): a chat completion with a real ``usage`` object
    (``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``prompt_cache_hit_tokens``,
    ``prompt_cache_miss_tokens``, ``prompt_tokens_details.cached_tokens``); a repeated prompt prefix is a cache hit
    in 64-token units, as on the real API. Each call is charged to the balance; an empty balance answers 402;
  - ``GET /models``.
``FakeElevenLabs`` serves
  - ``GET /v1/user/subscription``: ``tier``, ``character_count``, ``character_limit``,
    ``next_character_count_reset_unix``, ``status``...;
  - ``GET /v1/convai/conversations``: newest first, ``cursor``/``page_size`` (max 100, default 30), ``agent_id``,
    ``call_start_after_unix``/``call_start_before_unix``; answers ``conversations``, ``has_more``, ``next_cursor``;
  - ``GET /v1/convai/conversations/{id}``.

Both check their auth header (DeepSeek ``Authorization: Bearer``, ElevenLabs ``xi-api-key``) when built with an
``api_key``, and switch failure modes with ``set_mode``: ``ok``, ``401``, ``402``, ``429`` (with ``Retry-After``),
``500``, ``503``, ``slow`` (answers after ``delay`` seconds), ``malformed`` (200 with broken JSON), optionally for
the next ``count`` requests only and only for some path prefixes. ``set_page_size_cap`` forces pagination.
Other processes drive a standalone server through ``/_control/*`` (JSON POSTs, see each fake's ``control()``), e.g.
``curl -d '{"mode": "402"}' http://127.0.0.1:PORT/_control/mode``.

Standalone: ``python -m lookout.demo.providers deepseek|elevenlabs --port N [--api-key KEY | --api-key-env VAR]``.

Modules: ``handler`` (HTTP in and out), ``base`` (server, failure modes, request log, control API),
``deepseek``, ``elevenlabs`` (the two fakes), ``cli`` (one fake as its own process).
"""

from lookout.demo.providers.base import MODES, FakeProvider
from lookout.demo.providers.cli import PROVIDERS, main
from lookout.demo.providers.deepseek import FakeDeepSeek
from lookout.demo.providers.elevenlabs import FakeElevenLabs

__all__ = ["MODES", "PROVIDERS", "FakeDeepSeek", "FakeElevenLabs", "FakeProvider", "main"]

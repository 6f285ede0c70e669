"""HTTP client for the provider collectors (deepseek, elevenlabs): one ``requests`` session per collector.

Reads: a provider's HTTPS API with an API key sent as a header (never in the URL, never logged).
Publishes: ``PROVIDER_METRICS`` and ``ApiHealth`` (the ``llm_provider_api_*`` metrics every provider
collector publishes), ``HttpClient.get_json()`` returning an ``ApiResult`` (HTTP status and parsed JSON, or the
status alone for an error answer), ``HttpError`` for transport failures and unparseable bodies, and
``HttpSettings`` (the keys every provider collector accepts).

Every request has a connect and a read timeout. Connection errors, timeouts, 429, 500, 502, 503 and 504 are
retried at most ``retries`` times, waiting ``Retry-After`` (seconds or an HTTP date) when the answer gives
one, else an exponential backoff; a wait longer than ``retry_after_cap`` is not slept: the error answer is
returned and the client makes no request to that host before the ``Retry-After`` instant (later refreshes
report the last status without calling the API), so a rate-limited exporter backs off instead of hammering.
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from exporters import __version__, secrets
from exporters.collector import Snapshot, counter, gauge
from exporters.config import CollectorSettings, Duration, Secret, setting

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(kw_only=True)
class HttpSettings(CollectorSettings):
    """Keys shared by the collectors that call a provider's HTTP API."""

    api_key: Secret = setting(
        help="API key (secret: use `${VAR}` or `api_key_file`). Sent only in the provider's auth header.",
        example="${PROVIDER_API_KEY}",
    )
    connect_timeout: Duration = setting(Duration(3), help="Limit for opening the HTTPS connection.")
    read_timeout: Duration = setting(Duration(10), help="Limit for waiting on each read of the answer.")
    retries: int = setting(2, help="Retries of a request after a timeout, a connection error, 429 or 5xx.")
    retry_after_cap: Duration = setting(
        Duration(10),
        help="Longest `Retry-After` (or backoff) slept inside one refresh; a longer one ends the refresh and "
        "no request is made before that time.",
    )

    def validate(self) -> None:
        if not self.api_key.strip():
            raise ValueError("api_key: must not be empty")
        if self.retries < 0:
            raise ValueError("retries: must be 0 or more")
        if float(self.connect_timeout) <= 0 or float(self.read_timeout) <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")


class HttpError(Exception):
    """A request failed without an HTTP answer, or the answer could not be parsed. One line, no secret."""


@dataclass
class ApiResult:
    status: int  # HTTP status; 0 when the request was skipped because of an earlier Retry-After
    data: Any = None  # parsed JSON of a 2xx answer
    retry_after: float | None = None  # seconds, from the last answer
    skipped: bool = False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or HTTP date), or None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpClient:
    def __init__(
        self,
        base_url: str,
        auth_headers: dict[str, str],
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        retries: int = 2,
        retry_after_cap: float = 10.0,
        backoff: float = 0.5,
        stop: threading.Event | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        for v in auth_headers.values():
            secrets.register(v)
            secrets.register(v.removeprefix("Bearer "))
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.retries = max(0, int(retries))
        self.retry_after_cap = float(retry_after_cap)
        self.backoff = float(backoff)
        self.stop_event = stop or threading.Event()
        self.blocked_until = 0.0  # monotonic time before which no request is made (a long Retry-After)
        self.last_blocked_status = 0
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": f"lookout-exporter/{__version__}"})
        self.session.headers.update(auth_headers)

    @classmethod
    def from_settings(cls, base_url: str, auth_headers: dict[str, str], s: HttpSettings, **kw: Any) -> HttpClient:
        return cls(
            base_url, auth_headers, connect_timeout=float(s.connect_timeout), read_timeout=float(s.read_timeout),
            retries=s.retries, retry_after_cap=float(s.retry_after_cap), **kw,
        )

    def close(self) -> None:
        self.stop_event.set()
        self.session.close()

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> ApiResult:
        """GET ``path``; 2xx answers must be JSON. Raises ``HttpError`` when no answer came back."""
        now = time.monotonic()
        if now < self.blocked_until:
            return ApiResult(self.last_blocked_status, retry_after=self.blocked_until - now, skipped=True)
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                resp = self.session.get(url, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt >= self.retries or not self._sleep(self._backoff(attempt)):
                    raise HttpError(f"GET {url}: {_describe(exc)}") from None
                attempt += 1
                continue
            status = resp.status_code
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if status in RETRY_STATUSES:
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if wait > self.retry_after_cap:
                    # too long to wait inside a refresh: respect it across refreshes instead
                    self.blocked_until = time.monotonic() + wait
                    self.last_blocked_status = status
                    resp.close()
                    return ApiResult(status, retry_after=retry_after)
                if attempt < self.retries and self._sleep(wait):
                    attempt += 1
                    resp.close()
                    continue
                resp.close()
                return ApiResult(status, retry_after=retry_after)
            if not 200 <= status < 300:
                resp.close()
                return ApiResult(status, retry_after=retry_after)
            try:
                data = resp.json()
            except ValueError:
                raise HttpError(f"GET {url}: HTTP {status} with a body that is not valid JSON") from None
            return ApiResult(status, data)

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_after_cap, self.backoff * (2**attempt))

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the collector is stopping; False if stopping."""
        return not self.stop_event.wait(max(0.0, seconds))


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "timed out waiting for the answer"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


PROVIDER_METRICS = (
    gauge("llm_provider_api_up", "1 if the provider's API answered the last call with 2xx and a valid body.",
          "provider"),
    gauge("llm_provider_api_last_status_code",
          "HTTP status of the provider's last answer (401 bad key, 402 no balance, 429 rate limited).", "provider"),
    counter("llm_provider_api_responses_total", "Answers of the provider's API by HTTP status code (after retries).",
            "provider", "code"),
)


class ApiHealth:
    """Per-collector record of the provider API's last answer and answer counts (counters kept on the collector)."""

    def __init__(self, provider: str):
        self.provider = provider
        self.last_status = 0
        self.up = False
        self.responses: dict[str, int] = {}

    def record(self, result: ApiResult, ok: bool) -> None:
        if not result.skipped:
            self.last_status = result.status
            self.responses[str(result.status)] = self.responses.get(str(result.status), 0) + 1
        self.up = ok

    def emit(self, snap: Snapshot) -> None:
        snap.add("llm_provider_api_up", 1 if self.up else 0, provider=self.provider)
        snap.add("llm_provider_api_last_status_code", self.last_status, provider=self.provider)
        snap.declare("llm_provider_api_responses_total")
        for code, n in sorted(self.responses.items()):
            snap.add("llm_provider_api_responses_total", n, provider=self.provider, code=code)

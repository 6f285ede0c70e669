"""HTTP client for the provider collectors (deepseek, elevenlabs): one ``requests`` session per collector.

Reads: a provider's HTTPS API with an API key sent as a header (never in the URL, never logged).
Publishes: ``PROVIDER_METRICS`` and ``ApiHealth`` (the ``lookout_llm_provider_api_*`` metrics every provider
collector publishes), ``HttpClient.get_json()`` returning an ``ApiResult`` (HTTP status and parsed JSON, or the
status alone for an error answer), ``HttpError`` for transport failures and unparseable bodies, and
``HttpSettings`` (the keys every provider collector accepts).

Every request is bounded (docs/security.md, "Provider clients"):

- in time: a connect and a read timeout, and a total ``deadline`` per request covering name resolution,
  the TCP connect, the TLS handshake, the headers and the body (a server dripping one byte every few
  seconds, or a resolver that never answers, ends as a timeout error): a watchdog shuts the socket down
  when it passes;
- in threads: name resolution runs in a helper thread (``getaddrinfo`` cannot be interrupted), at most
  one per host and port at a time: while a resolver hangs, every later request for that host waits on
  the resolution already running instead of starting another;
- in size: an answer longer than ``max_response_bytes`` is refused while it streams, never held whole;
- in where the key goes: redirects are followed only within the same origin (scheme, host and port), at
  most ``MAX_REDIRECTS``; a redirect to another origin is an error and is not followed, so the key
  header never reaches another host;
- in waiting: connection errors, timeouts, 429, 500, 502, 503 and 504 are retried at most ``retries``
  times, waiting ``Retry-After`` (seconds or an HTTP date) when the answer gives one, else an exponential
  backoff. A wait longer than ``retry_after_cap`` is not slept: the client makes no request to that host
  before the ``Retry-After`` instant, which is capped at ``retry_after_max`` (a server asking for 31 years
  gets one hour), and each refresh meanwhile fails with ``Throttled`` while still publishing the status
  and ``lookout_llm_provider_api_retry_after_seconds`` (the runtime counts it in ``lookout_collector_errors_total``
  and logs it once per change of state).

Every failure is an ``HttpError`` (a ``source_errors.SourceError``: one line, no secret).
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lookout.exporters import __version__, secrets
from lookout.exporters.binding import Duration, Secret, setting
from lookout.exporters.collector import CollectorSettings, Snapshot, counter, gauge
from lookout.exporters.source_errors import SourceError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
DEFAULT_DEADLINE = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
DEFAULT_RETRY_AFTER_MAX = 3600.0
CHUNK = 64 * 1024


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
    deadline: Duration = setting(
        Duration(DEFAULT_DEADLINE),
        help="Limit for one whole request, from name resolution through the TLS handshake to the answer's "
        "last byte (a server that drips its handshake or answer slowly ends as a timeout error).",
    )
    max_response_bytes: int = setting(
        DEFAULT_MAX_RESPONSE_BYTES,
        help="Longest answer accepted, in bytes (after decompression); a longer one is refused while it "
        "streams and the refresh fails.",
        at_cap="refused: the refresh fails (`lookout_collector_up` 0, counted in `lookout_collector_errors_total`); "
        "no partial answer is used.",
    )
    retry_after_cap: Duration = setting(
        Duration(10),
        help="Longest `Retry-After` (or backoff) slept inside one refresh; a longer one ends the refresh and "
        "no request is made before that time.",
    )
    retry_after_max: Duration = setting(
        Duration(DEFAULT_RETRY_AFTER_MAX),
        help="Longest `Retry-After` honoured: a provider asking to wait longer is called again after this.",
    )
    allow_http: bool = setting(
        False,
        help="Accept a plain `http://` `base_url` on a host other than the loopback (the API key would "
        "cross the network unencrypted). Off: only `https://`, or `http://` to 127.0.0.1/::1/localhost.",
    )

    def validate(self) -> None:
        if not self.api_key.strip():
            raise ValueError("api_key: must not be empty")
        bad = next((ch for ch in self.api_key if ord(ch) > 0xFF or ord(ch) < 0x20 or ord(ch) == 0x7F), None)
        if bad is not None:  # the key is never quoted: say what is wrong with it, not what it is
            kind = "a control character" if ord(bad) < 0x80 else "a character outside Latin-1"
            raise ValueError(f"api_key: contains {kind}, which an HTTP header cannot carry (check the value)")
        if self.retries < 0:
            raise ValueError("retries: must be 0 or more")
        if float(self.connect_timeout) <= 0 or float(self.read_timeout) <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")
        if self.max_response_bytes < 1024:
            raise ValueError("max_response_bytes: must be at least 1024")
        base_url = getattr(self, "base_url", None)
        if isinstance(base_url, str):
            check_base_url(base_url, self.allow_http)


def check_base_url(base_url: str, allow_http: bool = False) -> None:
    """Refuse a provider URL that is not ``https://`` (``http://`` only to the loopback, or if allowed)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url: expected https://HOST[:PORT][/PATH]")
    if parts.username or parts.password:
        raise ValueError("base_url: must not contain a user or password (the key goes in its own setting)")
    if parts.scheme == "http" and not allow_http and not _is_loopback(parts.hostname):
        raise ValueError(
            f"base_url: plain http:// to {parts.hostname} would send the API key unencrypted; use https:// "
            "(or set allow_http: true if this network is trusted)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpError(SourceError):
    """A request failed without an HTTP answer, or the answer could not be used. One line, no secret."""


class Throttled(SourceError):
    """The provider asked for a wait (``Retry-After``) longer than a refresh: the refresh counts as failed,
    and the metrics it built (last status, the wait) are still served."""

    keep_snapshot = True


# -- the deadline watchdog ------------------------------------------------------------------------------
# requests gives no total deadline: each read may wait ``read_timeout``, and a server sending one byte
# every few seconds never trips it, in the answer or in the TLS handshake. Every phase is bounded here:
# name resolution runs in a helper thread the request waits for no longer than the deadline, each TCP
# connect gets at most what is left of it, and from the moment the TCP connection exists a timer can shut
# the socket down, which ends any blocked read at once (handshake, headers, body).

_current = threading.local()


class _Resolution:
    """One ``getaddrinfo`` running in its own thread, and its outcome once it ends."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.started = time.monotonic()
        self.answer: list[Any] = []  # the address list, or the exception, once done


# (host, port) -> the resolution running for it. A hung resolver holds its thread until the system's own
# resolver gives up (minutes): starting one per request would pile up a thread per refresh per collector
# while DNS is down, so later requests wait on the running one instead (and share its answer).
_resolving: dict[tuple[str, int], _Resolution] = {}
_resolving_lock = threading.Lock()


def resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """``getaddrinfo(host, port)`` waited for at most ``timeout`` seconds; raises ``ResolutionPending``
    (a ``TimeoutError``) when it has not answered by then, and the resolver's own error when it failed."""
    key = (host, port)
    with _resolving_lock:
        pending = _resolving.get(key)
        if pending is None:
            pending = _resolving[key] = _Resolution()
            threading.Thread(target=_resolve_into, args=(key, pending), daemon=True,
                             name=f"resolve {host}").start()
    if not pending.done.wait(max(0.0, timeout)):
        raise ResolutionPending(host, time.monotonic() - pending.started)
    outcome = pending.answer[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome  # type: ignore[no-any-return]


def _resolve_into(key: tuple[str, int], resolution: _Resolution) -> None:
    try:
        resolution.answer.append(socket.getaddrinfo(*key, type=socket.SOCK_STREAM))
    except Exception as exc:  # handed to the waiting requests: gaierror, an IDNA error...
        resolution.answer.append(exc)
    finally:
        with _resolving_lock:
            if _resolving.get(key) is resolution:
                del _resolving[key]
        resolution.done.set()


class ResolutionPending(TimeoutError):
    """The resolver has not answered for ``host`` yet (its lookup keeps running, shared by later requests)."""

    def __init__(self, host: str, waited: float) -> None:
        super().__init__(f"name resolution of {host} still pending after {waited:.0f}s")
        self.host = host


class _Watch:
    def __init__(self, deadline: float) -> None:
        self.lock = threading.Lock()
        self.ends_at = time.monotonic() + deadline
        self.socks: list[socket.socket] = []
        self.held: list[socket.socket] = []  # duplicates of connections' descriptors, closed at the end
        self._expired = False
        self.done = False
        self.resolving: str | None = None  # the host being resolved, while the request waits for it

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self.ends_at

    def remaining(self) -> float:
        return max(0.0, self.ends_at - time.monotonic())

    def add(self, sock: socket.socket | None) -> None:
        with self.lock:
            if sock is not None and not self.done:
                self.socks.append(sock)
                if self._expired:
                    self._shutdown(sock)

    def hold(self, sock: socket.socket) -> None:
        """Watch a new TCP connection through a descriptor of our own: TLS wrapping detaches the original
        socket object, and a descriptor number alone could be closed and reused by another socket."""
        own = sock.dup()
        with self.lock:
            if self.done:
                own.close()
                return
            self.held.append(own)
            self.socks.append(own)
            if self._expired:
                self._shutdown(own)

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self._expired = True
            for sock in self.socks:
                self._shutdown(sock)

    def finish(self) -> None:
        with self.lock:
            self.done = True
            self.socks.clear()
            for sock in self.held:
                sock.close()
            self.held.clear()

    def resolve(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """``getaddrinfo`` within what is left of the deadline (it has no timeout of its own and cannot be
        interrupted: a resolver that hangs is left to finish in its daemon thread, see ``resolve``)."""
        if _is_ip(host):
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        self.resolving = host  # kept when it fails: the deadline's error then names the phase
        answer = resolve(host, port, self.remaining())
        self.resolving = None
        return answer

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _DeadlineConnection:
    """Mixed into urllib3's connections: resolving and connecting within the request's deadline, and the
    new socket watched before the TLS handshake starts."""

    _dns_host: str
    port: int
    timeout: Any
    sock: Any

    def _new_conn(self) -> socket.socket:
        watch = getattr(_current, "watch", None)
        if watch is None:
            return super()._new_conn()  # type: ignore[misc,no-any-return]
        name, connect_timeout = self._dns_host, self.timeout
        try:
            infos = watch.resolve(name.rstrip("."), self.port)
        except socket.gaierror as exc:
            raise urllib3.exceptions.NameResolutionError(name, self, exc) from None  # type: ignore[arg-type]
        except TimeoutError:
            raise urllib3.exceptions.ConnectTimeoutError(self, f"resolving {name} timed out") from None
        last: Exception | None = None
        try:
            # each address by urllib3's own connect, but given an address and what is left of the deadline
            # (``host`` for TLS reads ``_dns_host`` after this returns, so the name is put back)
            for address in dict.fromkeys(info[4][0] for info in infos):
                if watch.remaining() <= 0:
                    break
                self._dns_host = address
                limit = connect_timeout if isinstance(connect_timeout, (int, float)) else watch.remaining()
                self.timeout = min(float(limit), watch.remaining())
                try:
                    sock: socket.socket = super()._new_conn()  # type: ignore[misc]
                except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
                    last = exc
                    continue
                watch.hold(sock)
                return sock
        finally:
            self._dns_host, self.timeout = name, connect_timeout
        raise last or urllib3.exceptions.ConnectTimeoutError(self, f"connecting to {name} timed out")

    def getresponse(self, *a: Any, **kw: Any) -> Any:  # a kept-alive connection opened by an earlier request
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.add(self.sock)
        return super().getresponse(*a, **kw)  # type: ignore[misc]


class _HTTPConnection(_DeadlineConnection, HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *a: Any, **kw: Any) -> None:
        super().init_poolmanager(*a, **kw)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _origin(url: str) -> tuple[str, str, int]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80)


@dataclass
class ApiResult:
    status: int  # HTTP status; 0 when the request was skipped because of an earlier Retry-After
    data: Any = None  # parsed JSON of a 2xx answer
    retry_after: float | None = None  # seconds, from the last answer
    skipped: bool = False
    throttled: bool = False  # the provider asked to wait longer than a refresh: no call before that


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
        retry_after_max: float = DEFAULT_RETRY_AFTER_MAX,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
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
        self.retry_after_max = float(retry_after_max)
        self.deadline = float(deadline)
        self.max_response_bytes = int(max_response_bytes)
        self.backoff = float(backoff)
        self.stop_event = stop or threading.Event()
        self.blocked_until = 0.0  # monotonic time before which no request is made (a long Retry-After)
        self.last_blocked_status = 0
        self.session = requests.Session()
        self.session.max_redirects = MAX_REDIRECTS
        self.session.trust_env = False  # no proxy or .netrc from the environment: the key goes where configured
        adapter = _Adapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json", "User-Agent": f"lookout-exporter/{__version__}"})
        self.session.headers.update(auth_headers)

    @classmethod
    def from_settings(cls, base_url: str, auth_headers: dict[str, str], s: HttpSettings, **kw: Any) -> HttpClient:
        return cls(
            base_url, auth_headers, connect_timeout=float(s.connect_timeout), read_timeout=float(s.read_timeout),
            retries=s.retries, retry_after_cap=float(s.retry_after_cap), retry_after_max=float(s.retry_after_max),
            deadline=float(s.deadline), max_response_bytes=s.max_response_bytes, **kw,
        )

    def close(self) -> None:
        self.stop_event.set()
        self.session.close()

    def throttled_for(self) -> float:
        """Seconds before the next call is allowed (0 when not throttled)."""
        return max(0.0, self.blocked_until - time.monotonic())

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> ApiResult:
        """GET ``path``; 2xx answers must be JSON. Raises ``HttpError`` when no usable answer came back."""
        now = time.monotonic()
        if now < self.blocked_until:
            return ApiResult(self.last_blocked_status, retry_after=self.blocked_until - now, skipped=True,
                             throttled=True)
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                status, headers, body = self._get(url, params)
            except _Retryable as exc:
                if attempt >= self.retries or not self._sleep(self._backoff(attempt)):
                    raise HttpError(f"GET {url}: {exc}") from None
                attempt += 1
                continue
            retry_after = parse_retry_after(headers.get("Retry-After"))
            if retry_after is not None:
                retry_after = min(retry_after, self.retry_after_max)
            if status in RETRY_STATUSES:
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if wait > self.retry_after_cap:
                    # too long to wait inside a refresh: respect it across refreshes instead
                    self.blocked_until = time.monotonic() + wait
                    self.last_blocked_status = status
                    return ApiResult(status, retry_after=retry_after, throttled=True)
                if attempt < self.retries and self._sleep(wait):
                    attempt += 1
                    continue
                return ApiResult(status, retry_after=retry_after)
            if not 200 <= status < 300:
                return ApiResult(status, retry_after=retry_after)
            try:
                data = json.loads(body)
            except ValueError:
                raise HttpError(f"GET {url}: HTTP {status} with a body that is not valid JSON") from None
            return ApiResult(status, data)

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[int, Any, bytes]:
        """One GET (same-origin redirects followed) within the deadline: status, headers, body."""
        watch = _Watch(self.deadline)
        timer = threading.Timer(self.deadline, watch.expire)
        timer.daemon = True
        _current.watch = watch
        timer.start()
        # not retried: a server that drips will drip again, and the refresh must end near the deadline
        def late() -> HttpError:
            where = f" (name resolution of {watch.resolving} still pending)" if watch.resolving else ""
            return HttpError(f"GET {url}: no complete answer within the {self.deadline:g}s deadline{where}")

        try:
            answer = self._get_watched(url, params, watch)
            if watch.expired:  # a shut-down socket reads as the end of the headers or the body
                raise late()
            return answer
        except requests.RequestException as exc:
            if watch.expired:
                raise late() from None
            raise _Retryable(_describe(exc)) from None
        except _TooLarge:
            raise HttpError(f"GET {url}: answer longer than {self.max_response_bytes} bytes, refused") from None
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:  # a socket shut down mid-read, a bad chunk
            if watch.expired:
                raise late() from None
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        finally:
            timer.cancel()
            watch.finish()
            _current.watch = None

    def _get_watched(self, url: str, params: dict[str, Any] | None, watch: _Watch) -> tuple[int, Any, bytes]:
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            resp = self.session.get(url, params=params, timeout=self.timeout, stream=True, allow_redirects=False)
            with resp:
                if resp.status_code in REDIRECT_STATUSES and resp.headers.get("Location"):
                    target = urljoin(resp.url, resp.headers["Location"])
                    if _origin(target) != origin:
                        # the key header would go to another host: never follow
                        scheme, host, port = _origin(target)
                        raise HttpError(
                            f"GET {url}: HTTP {resp.status_code} redirect to another origin "
                            f"({scheme}://{host}:{port}), not followed"
                        )
                    url, params = target, None
                    continue
                return resp.status_code, resp.headers, self._read(resp, watch)
        raise HttpError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _read(self, resp: requests.Response, watch: _Watch) -> bytes:
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_response_bytes:
            raise _TooLarge()
        body = bytearray()
        for chunk in resp.raw.stream(CHUNK, decode_content=True):
            body += chunk
            if len(body) > self.max_response_bytes:
                raise _TooLarge()
            if watch.expired:
                raise TimeoutError("deadline")
        return bytes(body)

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_after_cap, self.backoff * (2**attempt))

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the collector is stopping; False if stopping."""
        return not self.stop_event.wait(max(0.0, seconds))


class _Retryable(Exception):
    """No answer (connection failed, timeout, deadline): retried, then an ``HttpError``."""


class _TooLarge(Exception):
    pass


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "timed out waiting for the answer"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


PROVIDER_METRICS = (
    gauge("lookout_llm_provider_api_up", "1 if the provider's API answered the last call with 2xx and a valid body.",
          "provider"),
    gauge("lookout_llm_provider_api_last_status_code",
          "HTTP status of the provider's last answer (401 bad key, 402 no balance, 429 rate limited).", "provider"),
    counter("lookout_llm_provider_api_responses_total",
            "Answers of the provider's API by HTTP status code (after retries).",
            "provider", "code"),
    gauge("lookout_llm_provider_api_retry_after_seconds",
          "Seconds before the exporter calls the provider again because it asked to wait (Retry-After, at most "
          "retry_after_max); 0 when not throttled.", "provider"),
)


class ApiHealth:
    """Per-collector record of the provider API's last answer and answer counts (counters kept on the collector)."""

    def __init__(self, provider: str, client: HttpClient | None = None):
        self.provider = provider
        self.client = client
        self.last_status = 0
        self.up = False
        self.responses: dict[str, int] = {}

    def record(self, result: ApiResult, ok: bool) -> None:
        if not result.skipped:
            self.last_status = result.status
            self.responses[str(result.status)] = self.responses.get(str(result.status), 0) + 1
        self.up = ok

    def emit(self, snap: Snapshot) -> None:
        snap.add("lookout_llm_provider_api_up", 1 if self.up else 0, provider=self.provider)
        snap.add("lookout_llm_provider_api_last_status_code", self.last_status, provider=self.provider)
        snap.declare("lookout_llm_provider_api_responses_total")
        for code, n in sorted(self.responses.items()):
            snap.add("lookout_llm_provider_api_responses_total", n, provider=self.provider, code=code)
        wait = self.client.throttled_for() if self.client is not None else 0.0
        snap.add("lookout_llm_provider_api_retry_after_seconds", round(wait, 1), provider=self.provider)

    def raise_if_throttled(self) -> None:
        """After ``emit``: while the provider's Retry-After holds, the refresh fails (counted, logged once per
        change of state by the runtime) and its metrics are kept."""
        if self.client is not None and self.client.throttled_for() > 0:
            raise Throttled(
                f"{self.client.base_url}: throttled: HTTP {self.client.last_blocked_status} with Retry-After; "
                f"no call before {self.client.throttled_for():.0f}s from now"
            )

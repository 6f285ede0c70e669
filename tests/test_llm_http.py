"""The provider HTTP client: timeouts, bounded retries honouring Retry-After, no key in errors or logs."""

from __future__ import annotations

import calendar
import logging
import time

import pytest

from lookout.demo.providers import FakeDeepSeek
from lookout.exporters.collectors._http import HttpClient, HttpError, parse_retry_after
from lookout.stack.httpd import LocalServer, QuietHandler

KEY = "sk-very-secret-key-123"


@pytest.fixture
def fake():
    with FakeDeepSeek(api_key=KEY) as f:
        yield f


def client(fake, **kw) -> HttpClient:
    opts = {"connect_timeout": 2, "read_timeout": 2, "retries": 2, "retry_after_cap": 2, "backoff": 0.05}
    return HttpClient(fake.url, {"Authorization": f"Bearer {KEY}"}, **{**opts, **kw})


def test_ok_and_http_errors_are_results(fake):
    c = client(fake)
    r = c.get_json("/user/balance")
    assert r.status == 200 and r.data["is_available"] is True
    fake.set_mode("401")
    assert c.get_json("/user/balance").status == 401
    fake.set_mode("402")
    r = c.get_json("/user/balance")
    assert (r.status, r.data) == (402, None)
    assert fake.request_count("/user/balance") == 3  # 4xx answers are not retried


def test_retry_after_is_honoured_then_success(fake):
    fake.set_mode("429", retry_after=1, count=1)
    c = client(fake)
    started = time.monotonic()
    r = c.get_json("/user/balance")
    assert r.status == 200
    assert time.monotonic() - started >= 0.9
    assert fake.request_count("/user/balance") == 2


def test_retries_are_bounded(fake):
    fake.set_mode("500")
    r = client(fake, retries=2).get_json("/user/balance")
    assert r.status == 500
    assert fake.request_count("/user/balance") == 3
    fake.set_mode("503", retry_after=0)
    assert client(fake, retries=0).get_json("/user/balance").status == 503


def test_long_retry_after_blocks_later_calls(fake):
    fake.set_mode("429", retry_after=60)
    c = client(fake, retry_after_cap=1)
    r = c.get_json("/user/balance")
    assert r.status == 429 and r.retry_after == 60
    fake.set_mode("ok")
    again = c.get_json("/user/balance")
    assert again.skipped and again.status == 429 and again.data is None
    assert fake.request_count("/user/balance") == 1  # the second call never reached the server


def test_slow_answer_times_out_after_bounded_retries(fake, caplog):
    fake.set_mode("slow", delay=5)
    c = client(fake, read_timeout=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(HttpError, match="timed out") as exc:
        c.get_json("/user/balance")
    assert time.monotonic() - started < 3
    assert fake.request_count("/user/balance") == 2
    assert KEY not in str(exc.value)


def test_malformed_json_and_connection_refused(fake):
    fake.set_mode("malformed")
    with pytest.raises(HttpError, match="not valid JSON"):
        client(fake).get_json("/user/balance")
    url = fake.url
    fake.stop()
    dead = HttpClient(url, {"Authorization": f"Bearer {KEY}"}, retries=1, backoff=0.01, connect_timeout=1)
    with pytest.raises(HttpError, match="connection failed"):
        dead.get_json("/user/balance")


def test_key_is_registered_for_redaction(fake, caplog):
    from lookout.exporters import secrets

    client(fake)
    assert KEY not in secrets.redact(f"Authorization: Bearer {KEY}")
    caplog.set_level(logging.DEBUG)
    client(fake).get_json("/user/balance")
    assert KEY not in caplog.text


def test_parse_retry_after():
    assert parse_retry_after("5") == 5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = calendar.timegm((2026, 11, 22, 9, 59, 0))
    assert parse_retry_after("Sun, 22 Nov 2026 10:00:00 GMT", now=now) == 60


# -- hostile providers: redirects, drips, huge bodies, absurd Retry-After --------------------------------

class Hostile:
    """A local HTTP server whose answer per path is hostile; records the headers of every request."""

    def __init__(self):
        outer = self
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.sent_bytes = 0
        self.redirect_to = ""

        class H(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.seen.append((self.path, dict(self.headers)))
                path = self.path.split("?")[0]
                try:
                    if path == "/redirect":
                        self._head(302, Location=outer.redirect_to, **{"Content-Length": "0"})
                    elif path == "/same-origin":
                        self._head(301, Location="/ok", **{"Content-Length": "0"})
                    elif path == "/ok":
                        self._body(b'{"ok": true}')
                    elif path == "/drip":  # one byte every 0.5 s of a long JSON answer
                        self._head(200, **{"Content-Length": "1000"})
                        for _ in range(1000):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.5)
                    elif path == "/drip-headers":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                        for _ in range(1000):
                            self.wfile.write(b"X-Slow: 1\r\n")
                            self.wfile.flush()
                            time.sleep(0.5)
                    elif path == "/huge":  # 300 MB, no Content-Length, as fast as it goes
                        self.send_response(200)
                        self.send_header("Connection", "close")
                        self.end_headers()
                        block = b" " * 65536
                        for _ in range(300 * 16):
                            self.wfile.write(block)
                            outer.sent_bytes += len(block)
                    elif path == "/huge-declared":
                        self._head(200, **{"Content-Length": str(300 * 1024 * 1024)})
                    elif path == "/throttle":
                        self._head(429, **{"Retry-After": "999999999", "Content-Length": "0"})
                except OSError:
                    pass

            def _head(self, code, **headers):
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()

            def _body(self, body):
                self._head(200, **{"Content-Type": "application/json", "Content-Length": str(len(body))})
                self.wfile.write(body)

        self.server = LocalServer(H).start()
        self.url = self.server.url

    def close(self):
        self.server.stop()


@pytest.fixture
def hostile():
    h = Hostile()
    yield h
    h.close()


def test_cross_origin_redirect_is_not_followed_and_key_stays_home(hostile):
    other = Hostile()
    try:
        hostile.redirect_to = other.url + "/ok"  # another port is another origin
        c = HttpClient(hostile.url, {"xi-api-key": KEY}, retries=0)
        with pytest.raises(HttpError, match="redirect to another origin") as exc:
            c.get_json("/redirect")
        assert KEY not in str(exc.value)
        assert other.seen == []  # not even a request without the key
        # a redirect within the origin is followed, with the key
        assert c.get_json("/same-origin").data == {"ok": True}
        assert [p for p, _ in hostile.seen][-2:] == ["/same-origin", "/ok"]
    finally:
        other.close()


def test_dripping_answer_ends_at_the_deadline(hostile):
    for path in ("/drip", "/drip-headers"):
        c = HttpClient(hostile.url, {"Authorization": f"Bearer {KEY}"}, retries=0, read_timeout=5, deadline=2)
        started = time.monotonic()
        with pytest.raises(HttpError, match="deadline"):
            c.get_json(path)
        took = time.monotonic() - started
        assert 1.5 < took < 4, (path, took)


def test_huge_answer_is_refused_while_streaming(hostile):
    c = HttpClient(hostile.url, {"Authorization": f"Bearer {KEY}"}, retries=0, max_response_bytes=1 << 20)
    with pytest.raises(HttpError, match="longer than 1048576 bytes"):
        c.get_json("/huge")
    assert hostile.sent_bytes < 100 * 1024 * 1024  # stopped reading long before the 300 MB were sent
    with pytest.raises(HttpError, match="longer than"):
        c.get_json("/huge-declared")  # refused on its Content-Length, before reading


def test_absurd_retry_after_is_capped(hostile):
    c = HttpClient(hostile.url, {"Authorization": f"Bearer {KEY}"}, retries=2, retry_after_cap=1,
                   retry_after_max=3600)
    r = c.get_json("/throttle")
    assert r.status == 429 and r.throttled and r.retry_after == 3600
    assert 3590 < c.throttled_for() <= 3600
    assert c.get_json("/throttle").skipped
    assert len(hostile.seen) == 1

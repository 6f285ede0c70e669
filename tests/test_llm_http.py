"""The provider HTTP client: timeouts, bounded retries honouring Retry-After, no key in errors or logs."""

from __future__ import annotations

import calendar
import logging
import time

import pytest

from demo.providers import FakeDeepSeek
from exporters.collectors._http import HttpClient, HttpError, parse_retry_after

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
    from exporters import secrets

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

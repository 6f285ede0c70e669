"""The tokens collector: JWT exp claims from env, files and values; malformed tokens named, never shown."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from prometheus_client import generate_latest

from lookout.exporters import config
from lookout.exporters.collectors.tokens import TokenError, TokensCollector, jwt_expiry
from lookout.exporters.runtime import Runtime
from lookout.exporters.server import make_registry
from tests.support.exporter import promtool_check_metrics, samples


def jwt(claims: dict) -> str:
    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


def test_jwt_expiry():
    assert jwt_expiry(jwt({"exp": 1_773_100_800, "sub": "x"})) == 1_773_100_800
    assert jwt_expiry("Bearer " + jwt({"exp": 12.5})) == 12.5
    for bad, reason in [("abc", "three"), ("a.!!!.c", "base64url"), (jwt({"sub": 1}), "no exp"),
                        (jwt({"exp": "soon"}), "not a number"), ("a." + base64.urlsafe_b64encode(b"[1]").decode()
                                                                  + ".c", "not a JSON object")]:
        with pytest.raises(TokenError, match=reason) as exc:
            jwt_expiry(bad)
        assert bad not in str(exc.value)


def tok(s, metric: str, name: str) -> float | None:
    return s.get((metric, (("name", name),)))  # value() cannot take a label called name


def load(tmp_path, body: str):
    p = tmp_path / "c.yaml"
    p.write_text(body)
    return config.load(p)


def test_collector_reads_env_file_and_value(tmp_path, monkeypatch, caplog):
    good_env = jwt({"exp": 1_790_000_000})
    malformed = "not-a-jwt-secret-value-123"
    monkeypatch.setenv("TEST_WB_TOKEN", good_env)
    monkeypatch.setenv("TEST_STATIC_TOKEN", jwt({"exp": 1_800_000_000}))
    token_file = tmp_path / "token"
    token_file.write_text(malformed + "\n")
    cfg = load(tmp_path, f"""
collectors:
  tokens:
    tokens:
      - {{name: wb_feedbacks, env: TEST_WB_TOKEN}}
      - {{name: ozon, file: {token_file}}}
      - {{name: static, value: "${{TEST_STATIC_TOKEN}}"}}
      - {{name: unset, env: TEST_TOKEN_NOT_SET}}
""")
    collector = TokensCollector(cfg.collectors["tokens"])
    rt = Runtime([collector])
    caplog.set_level(logging.INFO)
    assert rt.refresh_all_once() == {"tokens": True}
    text = generate_latest(make_registry(rt)).decode()
    s = samples(text)
    assert tok(s, "lookout_api_token_expiry_timestamp_seconds", "wb_feedbacks") == 1_790_000_000
    assert tok(s, "lookout_api_token_expiry_timestamp_seconds", "static") == 1_800_000_000
    assert tok(s, "lookout_api_token_expiry_timestamp_seconds", "ozon") is None
    assert tok(s, "lookout_api_token_readable", "ozon") == 0
    assert tok(s, "lookout_api_token_readable", "unset") == 0
    assert tok(s, "lookout_api_token_readable", "wb_feedbacks") == 1
    assert promtool_check_metrics(text) == ""
    assert "token ozon cannot be read: not a JWT" in caplog.text
    assert "TEST_TOKEN_NOT_SET is not set" in caplog.text
    assert malformed not in caplog.text and good_env not in text
    # logged once per state change; a rotated file is read at the next refresh
    caplog.clear()
    rt.refresh_all_once()
    assert "ozon" not in caplog.text
    token_file.write_text(jwt({"exp": 1_795_000_000}))
    rt.refresh_all_once()
    s = samples(generate_latest(make_registry(rt)).decode())
    assert tok(s, "lookout_api_token_expiry_timestamp_seconds", "ozon") == 1_795_000_000
    assert "token ozon is readable again" in caplog.text


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a}", "exactly one of"),
        ("{name: a, env: X, file: /y}", "exactly one of"),
        ("{name: '', env: X}", "name: must not be empty"),
    ],
)
def test_invalid_token_settings(tmp_path, entry, message):
    with pytest.raises(config.ConfigError, match=message):
        load(tmp_path, f"collectors:\n  tokens:\n    tokens:\n      - {entry}\n")


def test_duplicate_names_and_value_file(tmp_path):
    with pytest.raises(config.ConfigError, match="used twice"):
        load(tmp_path, "collectors:\n  tokens:\n    tokens:\n      - {name: a, env: X}\n      - {name: a, env: Y}\n")
    secret = tmp_path / "s"
    secret.write_text(jwt({"exp": 5}))
    secret.chmod(0o600)
    cfg = load(tmp_path, f"collectors:\n  tokens:\n    tokens:\n      - {{name: a, value_file: {secret}}}\n")
    assert jwt_expiry(cfg.collectors["tokens"].tokens[0].read()) == 5

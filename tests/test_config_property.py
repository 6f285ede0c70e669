"""Property: whatever the configuration file holds, ``check`` exits 0 or 2 with one line, never a traceback.

Hypothesis generates random YAML documents (built from the real keys, hostile values: NaN, infinities, huge
numbers, DSNs, variable references, deep lists) and random mutations of the shipped example configurations
(a value replaced, a key dropped or renamed, bytes inserted, deleted or replaced in the text). ``check`` runs
in-process (``lookout.exporters.cli.main``), so each example takes milliseconds; the example counts are bounded so the
whole module stays within a few seconds.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookout.exporters import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [ROOT / "examples" / "config.yaml", ROOT / "deploy" / "compose" / "exporters.yaml"]
SETTINGS = settings(max_examples=60, deadline=1500, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

KEYS = ["collectors", "listen", "log_level", "interval", "timeout", "enabled", "dsn", "dsn_file", "api_key",
        "api_key_file", "broker_url", "base_url", "queries", "statement_timeout", "connect_timeout", "pools",
        "periodic_tasks", "tokens", "thresholds", "worker_pools", "celery", "credits", "sla", "deepseek",
        "elevenlabs", "llm_spend", "capacity", "marketplace_sync", "containers", "retries", "read_timeout",
        "retry_after_cap", "heartbeat_expire_factor", "runtime_buckets", "name", "value", "value_file", "<<"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0", "-1s", "30s", "1e400", "99999999999999999999d", ".nan", "${LOOKOUT_PROP_UNSET}",
                     "${LOOKOUT_PROP_KEY}", "${LOOKOUT_PROP_UNSET:-sk-literal}", "postgresql://u:pw@h/db",
                     "postgresql://u@127.0.0.1/db?%70assword=x", "redis://:p/ss@h:6379/0", "/dev/zero",
                     "127.0.0.1:99999", "x:²", "SELECT 1; SELECT 2", "gunicorn", "\x00", "é" * 3]),
    st.text(max_size=20),
)
DOCS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers()), children, max_size=5),
    ),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    saved = dict(os.environ)
    os.environ.update({"LOOKOUT_PROP_KEY": "sk-property-key-123", "CHATCENTER_DATABASE_URL": "postgresql://u@h/c",
                       "VOICE_DATABASE_URL": "postgresql://u@h/v", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
                       "DEEPSEEK_API_KEY": "sk-example", "ELEVENLABS_API_KEY": "xi-example"})
    with tempfile.TemporaryDirectory(prefix="lookout-prop-") as d:
        yield Path(d)
    os.environ.clear()
    os.environ.update(saved)


def check(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["check", "--config", str(path)])
    assert code in (0, 2), (code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("config error: "), err.getvalue()


def _dump(doc: Any) -> bytes:
    try:
        return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, ValueError, UnicodeEncodeError):
        return repr(doc).encode("utf-8", "surrogatepass")


@SETTINGS
@given(doc=DOCS)
def test_random_documents(workdir, doc):
    check(workdir / "random.yaml", _dump(doc))
    check(workdir / "random-collectors.yaml", _dump({"collectors": doc}))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@SETTINGS
@given(example=st.sampled_from(EXAMPLES), data=st.data())
def test_mutated_examples(workdir, example, data):
    text = example.read_text()
    doc = yaml.safe_load(text)
    paths = [p for p in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step] if isinstance(parent, dict | list) and _has(parent, step) else None
        if parent is None or not _has(parent, path[-1]):
            continue
        action = data.draw(st.sampled_from(["replace", "drop", "rename"]))
        if action == "replace":
            parent[path[-1]] = data.draw(DOCS)
        elif action == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(KEYS))] = parent.pop(path[-1])
    check(workdir / "mutated.yaml", _dump(doc))
    # byte-level: insert, delete or replace a few bytes of the original text
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.sampled_from([b"\xff", b"\x00", b":", b"-", b" ", b"\n", b"{", b"[", b"&a", b"*a",
                                          b"!!python/object:os.system", b"'", b'"', b"\t", b"%"]))
        if op == "insert":
            raw[at:at] = byte
        elif op == "delete":
            del raw[at]
        else:
            raw[at:at + 1] = byte
    check(workdir / "bytes.yaml", bytes(raw))


def _has(node: Any, step: Any) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and step < len(node)


def test_the_examples_themselves_pass(workdir):
    for example in EXAMPLES:
        check(workdir / "example.yaml", example.read_bytes())

"""Binding YAML to typed dataclasses: the generic half of the configuration, used by the exporter's
configuration (``lookout.exporters.config``) and by the site file (``lookout.monitoring.site``).

Reads: YAML bytes (bounded in size and depth, UTF-8, no repeated key), environment variables named as
``${VAR}`` or ``${VAR:-default}`` inside string values, and files named by ``<key>_file`` for secret keys.
Publishes: ``build_dataclass`` / ``convert`` (a value of an annotated type, or ``ConfigError``), the setting
types ``Duration`` and ``Secret``, ``setting()`` (a documented dataclass field) and the secret rules.

Every error is a ``ConfigError`` whose message is one line naming the key path, for example
``collectors.worker_pools.pools[0].server: expected one of gunicorn, uvicorn, celery, got 'x'``.
Secret values are registered with ``lookout.exporters.secrets`` so that logs never show them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import stat
import types
import typing
from dataclasses import field
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from lookout.exporters import conninfo, secrets


class ConfigError(Exception):
    """A problem with the configuration, as one line naming the key path (see ``one_line``)."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_MESSAGE = 1000  # the longest real message (a key path and the known keys of a collector) is under 400


def one_line(message: str) -> str:
    """An error message as one bounded line, whatever the file holds: control characters (a key or value holding
    a newline or a carriage return) shown escaped, and a message that quotes a huge value cut."""
    line = _CONTROL.sub(lambda m: repr(m.group())[1:-1], message)
    return line if len(line) <= MAX_MESSAGE else f"{line[:MAX_MESSAGE]}... ({len(line):,} characters)"


class Duration(float):
    """Seconds, written in YAML as a number or as ``500ms``, ``30s``, ``5m``, ``2h``, ``1d``.

    Always finite, never negative and at most ``MAX`` (a year): ``.inf``, ``.nan`` or ``99999999999999999999d``
    would make a collector's thread die of an ``OverflowError`` or never run again. Whether 0 is allowed and
    tighter bounds depend on the setting (``check_duration``).
    """

    _UNITS: typing.ClassVar[dict[str, float]] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    _RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
    MAX: typing.ClassVar[float] = 366 * 86400.0

    @classmethod
    def parse(cls, value: Any) -> Duration:
        if isinstance(value, bool):
            raise ValueError("expected a duration such as 30s, got a boolean")
        seconds: float | None = None
        try:
            if isinstance(value, int | float):
                seconds = float(value)
            elif isinstance(value, str):
                m = cls._RE.match(value)
                if m:
                    seconds = float(m.group(1)) * cls._UNITS[m.group(2) or "s"]
        except OverflowError:
            seconds = math.inf
        if seconds is None:
            raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
        if not math.isfinite(seconds) or seconds < 0 or seconds > cls.MAX:
            raise ValueError(f"expected a duration from 0 to 366d, got {value!r}")
        return cls(seconds)


# Bounds of particular durations (docs/security.md): a collector refreshing 20 times a second or once a year
# is a mistake, and so is a timeout longer than a day. 0 is a valid grace or tolerance ("none"), nothing else.
MIN_INTERVAL, MAX_INTERVAL, MAX_TIMEOUT = 0.1, 86400.0, 86400.0
_ZERO_OK = ("grace", "tolerance")


def check_duration(d: Duration, path: str) -> Duration:
    name = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
    if d == 0 and not name.endswith(_ZERO_OK):
        raise ConfigError(f"{path}: must be more than 0")
    if name == "interval" and not MIN_INTERVAL <= d <= MAX_INTERVAL:
        raise ConfigError(f"{path}: must be from 100ms to 1d, got {_seconds(d)}")
    if "timeout" in name and d > MAX_TIMEOUT:
        raise ConfigError(f"{path}: must be at most 1d, got {_seconds(d)}")
    return d


def _seconds(d: float) -> str:
    return f"{d:g}s"


class Secret(str):
    """A string that must never be printed: its repr is masked and its value scrubbed from logs.

    A secret key ``password`` may instead be given as ``password_file: /run/secrets/x``.
    """

    def __repr__(self) -> str:
        return "'***'"


def setting(default: Any = dataclasses.MISSING, *, help: str, example: Any = None, at_cap: str | None = None,
            **kw: Any) -> Any:
    """A dataclass field with the documentation that ``docs/configuration.md`` is generated from.

    ``at_cap``: for a setting that bounds what is read or labelled, what happens at the bound (which series
    keeps totals exact, or which gauge and alert say a figure is a lower bound); listed under "Caps".
    """
    meta = {"help": help, "example": example, "at_cap": at_cap}
    if isinstance(default, list | dict):
        factory = default.copy
        return field(default_factory=factory, metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: str, path: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set")

    return _ENV_RE.sub(sub, value)


def describe(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is Duration:
        return "a duration such as 30s"
    if tp is Secret or tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if origin is list:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(tp))
    return str(tp)


def is_optional(tp: Any) -> tuple[bool, Any]:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return True, args[0]
    return False, tp


# Secret files (``<key>_file``): a regular file, at most this size, UTF-8, not readable by every user.
SECRET_FILE_MAX = 4096
# Docker and Compose mount secrets here from files whose mode they cannot always set (non-swarm Compose keeps
# the host file's mode); inside the container "everyone" is the container's own processes.
CONTAINER_SECRETS_DIR = "/run/secrets/"


def read_secret_file(file: str, path: str) -> str:
    """The content of a secret file, refused with one line when it is not a small, private, UTF-8 regular file."""
    def refuse(why: str) -> ConfigError:
        return ConfigError(f"{path}: secret file {file} {why}")

    try:
        # O_NONBLOCK: opening a FIFO nobody writes to must not hang; the fstat below then refuses it
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read secret file {file}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket")
            raise refuse(f"is {what}, not a regular file")
        if st.st_mode & stat.S_IROTH and not os.path.realpath(file).startswith(CONTAINER_SECRETS_DIR):
            raise refuse(f"is readable by every user (mode {stat.S_IMODE(st.st_mode):04o}); chmod o-r it")
        data = b""
        while len(data) <= SECRET_FILE_MAX:
            chunk = os.read(fd, SECRET_FILE_MAX + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read secret file {file}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > SECRET_FILE_MAX:
        raise refuse(f"is larger than {SECRET_FILE_MAX} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text (byte {exc.start})") from None
    if "\0" in text:
        raise refuse("contains a NUL byte")
    return text.rstrip("\r\n")


def _read_secret_file(path_value: Any, path: str) -> Secret:
    if not isinstance(path_value, str):
        raise ConfigError(f"{path}: expected a file path, got {type(path_value).__name__}")
    path_value = expand_env(path_value, path)  # the path itself may be ${VAR:-default}
    value = read_secret_file(path_value, path)
    check_connection_string(value, path.removesuffix("_file"))
    secrets.register(value)
    return Secret(value)


# Secret keys holding a connection string rather than a bare key: without a password such a string is
# legitimately literal (peer or trust authentication), so only a literal password is refused.
_CONNECTION_KEYS = ("dsn", "url")
_ONLY_VAR = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_FROM_ENV = "LOOKOUTFROMENV"  # stands for a ${VAR} without default while looking for literal text


def _key(path: str) -> str:
    return re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])


def reject_literal_secret(raw: str, path: str, expanded: str | None = None) -> None:
    """Refuse a secret written into the file itself: keys come from ``${VAR}`` or ``<key>_file`` only.

    ``raw`` is the value before expansion. A bare secret (API key, token) must be exactly one ``${VAR}``
    without a default. A connection string (key ``dsn`` or ``*_url``) may be literal, but any password it
    carries, read as libpq, redis-py and urllib would read it (user information, ``?password=``,
    ``?%70assword=``, ``password=''``), must be made of ``${VAR}`` references only. A ``${VAR:-default}``
    default is text of the file, so a password there counts as literal. With ``expanded`` (the value after
    expansion), each of its passwords must also come from the referenced variables' values.
    """
    key = _key(path)
    hint = f"use ${{VAR}} or {key}_file"
    if not key.endswith(_CONNECTION_KEYS):
        if not _ONLY_VAR.match(raw):
            raise ConfigError(f"{path}: secret given as a literal in the file; {hint}")
        return
    text = _ENV_RE.sub(lambda m: _FROM_ENV if m.group(2) is None else m.group(2), raw)
    for password in conninfo.passwords(text):
        if password.replace(_FROM_ENV, "").strip("'\""):
            raise ConfigError(f"{path}: password given as a literal in the file; {hint}")
    if expanded is not None:
        # the reading above fails when a variable holds structure (``${HOST}:pw@db``); the expanded value does not
        env = [os.environ[m.group(1)] for m in _ENV_RE.finditer(raw) if m.group(2) is None and m.group(1) in os.environ]
        sources = [f for v in env for f in secrets.forms(v) | {v} | set(conninfo.passwords(v))]
        for password in conninfo.passwords(expanded):
            if not any(password in src for src in sources):
                raise ConfigError(f"{path}: password given as a literal in the file; {hint}")


def check_connection_string(value: str, path: str) -> None:
    """Refuse a DSN or URL its library would refuse, with a reason that quotes none of it."""
    if _key(path).endswith(_CONNECTION_KEYS):
        problem = conninfo.parse_error(value)
        if problem:
            raise ConfigError(f"{path}: {problem}")


def convert(value: Any, tp: Any, path: str) -> Any:
    """Convert parsed YAML ``value`` to the annotated type ``tp``, or raise ConfigError."""
    optional, inner = is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{path}: expected {describe(inner)}, got nothing")
    tp = inner
    if isinstance(value, str) and tp is not Secret:
        value = expand_env(value, path)
    origin = get_origin(tp)
    try:
        if tp is Duration:
            return check_duration(Duration.parse(value), path)
        if tp is Secret:
            if isinstance(value, Secret):  # built by code (a placeholder while validating), never by YAML
                return value
            if not isinstance(value, str):
                raise ConfigError(f"{path}: expected a string, got {type(value).__name__}")
            expanded = expand_env(value, path)
            reject_literal_secret(value, path, expanded)
            value = expanded
            secrets.register(value)
            check_connection_string(value, path)
            return Secret(value)
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):  # from ${VAR}
                return value.strip().lower() == "true"
            raise ValueError(f"expected true or false, got {value!r}")
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
                return int(value)
            raise ValueError(f"expected an integer, got {value!r}")
        if tp is float:
            number: float | None = None
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    number = float(value)
                except OverflowError:
                    number = math.inf
            elif isinstance(value, str):
                with contextlib.suppress(ValueError):
                    number = float(value)
            if number is None:
                raise ValueError(f"expected a number, got {value!r}")
            if not math.isfinite(number):
                raise ValueError(f"expected a finite number, got {value!r}")
            return number
        if tp is str:
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                text = str(value)
                if "://" in text:  # a URL with user:password@ in a plain key: never shown either
                    for password in conninfo.passwords(text):
                        secrets.register(password)
                return text
            raise ValueError(f"expected a string, got {type(value).__name__}")
        if origin is Literal:
            allowed = get_args(tp)
            if value in allowed:
                return value
            raise ValueError(f"expected one of {', '.join(map(str, allowed))}, got {value!r}")
        if origin is list:
            (item_tp,) = get_args(tp)
            if not isinstance(value, list):
                raise ValueError(f"expected a list, got {type(value).__name__}")
            return [convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
        if origin is dict:
            _key_tp, val_tp = get_args(tp)
            if not isinstance(value, dict):
                raise ValueError(f"expected a mapping, got {type(value).__name__}")
            return {str(k): convert(v, val_tp, f"{path}.{k}") for k, v in value.items()}
        if dataclasses.is_dataclass(tp):
            return build_dataclass(tp, value, path)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    raise ConfigError(f"{path}: unsupported setting type {tp}")


def check_keys(cls: Any, value: dict[Any, Any], path: str) -> None:
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    for key in map(str, value):
        if key not in fields and key.removesuffix("_file") not in fields:
            raise ConfigError(f"{path}.{key}: unknown key (known keys: {', '.join(sorted(fields))})")


def build_dataclass(cls: Any, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        key = str(key)
        sub = f"{path}.{key}" if path else key
        if key in fields:
            kwargs[key] = convert(raw, hints[key], sub)
            continue
        base = key.removesuffix("_file")
        if key.endswith("_file") and base in fields and is_optional(hints[base])[1] is Secret:
            if base in value:
                raise ConfigError(f"{sub}: give either {base} or {key}, not both")
            kwargs[base] = _read_secret_file(raw, sub)
            continue
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{sub}: unknown key (known keys: {known})")
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    if missing:
        sub = f"{path}.{missing[0]}" if path else missing[0]
        raise ConfigError(f"{sub}: required key is missing")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return obj


CONFIG_MAX = 1 << 20  # bytes; a configuration is a few KiB
MAX_DEPTH = 50  # nesting levels; a configuration uses fewer than 10


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (PyYAML keeps the last one silently) and
    nesting deeper than ``MAX_DEPTH`` (PyYAML would recurse until a ``RecursionError``, slowly)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark
                    )
                seen[key] = key_node.start_mark
            except TypeError:
                pass  # an unhashable key: the base class refuses it with its own message
        return super().construct_mapping(node, deep=deep)


def parse_yaml(data: bytes, path: str) -> Any:
    """Parse a configuration document; ConfigError (one line) for non-UTF-8, bad YAML, duplicate keys, depth."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None


def read_config_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(CONFIG_MAX + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    if len(data) > CONFIG_MAX:
        raise ConfigError(f"{path}: configuration larger than {CONFIG_MAX} bytes")
    return data

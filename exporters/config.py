"""Configuration: reads one YAML file and turns it into typed, validated settings.

Reads: the YAML file given on the command line, environment variables named as ``${VAR}`` or
``${VAR:-default}`` inside string values, and files named by ``<key>_file`` for secret keys.
Publishes: ``Config`` (global settings plus one settings dataclass per enabled collector).

Every error is a ``ConfigError`` whose message is one line naming the key path, for example
``collectors.worker_pools.pools[0].server: expected one of gunicorn, uvicorn, celery, got 'x'``.
Secret values are registered with ``exporters.secrets`` so that logs never show them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from exporters import secrets

DEFAULT_LISTEN = "127.0.0.1:9808"


class ConfigError(Exception):
    """A problem with the configuration, as one line naming the key path."""


class Duration(float):
    """Seconds, written in YAML as a number or as ``500ms``, ``30s``, ``5m``, ``2h``, ``1d``."""

    _UNITS: typing.ClassVar[dict[str, float]] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    _RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")

    @classmethod
    def parse(cls, value: Any) -> Duration:
        if isinstance(value, bool):
            raise ValueError("expected a duration such as 30s, got a boolean")
        if isinstance(value, int | float):
            return cls(float(value))
        if isinstance(value, str):
            m = cls._RE.match(value)
            if m:
                return cls(float(m.group(1)) * cls._UNITS[m.group(2) or "s"])
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")


class Secret(str):
    """A string that must never be printed: its repr is masked and its value scrubbed from logs.

    A secret key ``password`` may instead be given as ``password_file: /run/secrets/x``.
    """

    def __repr__(self) -> str:
        return "'***'"


def setting(default: Any = dataclasses.MISSING, *, help: str, example: Any = None, **kw: Any) -> Any:
    """A dataclass field with the documentation that ``docs/configuration.md`` is generated from."""
    meta = {"help": help, "example": example}
    if isinstance(default, list | dict):
        factory = default.copy
        return field(default_factory=factory, metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass
class CollectorSettings:
    """Keys every collector accepts."""

    interval: Duration = setting(Duration(15), help="How often the collector refreshes in the background.")
    timeout: Duration | None = setting(
        None,
        help="A refresh running longer than this is reported as failed (`exporter_collector_up` 0) "
        "while it is still running. Default: the interval.",
    )
    enabled: bool = setting(True, help="Set to false to keep the settings but not run the collector.")


@dataclass
class Config:
    listen: str = DEFAULT_LISTEN
    log_level: str = "info"
    collectors: dict[str, CollectorSettings] = field(default_factory=dict)
    path: str = ""


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


def _describe(tp: Any) -> str:
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


def _is_optional(tp: Any) -> tuple[bool, Any]:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _read_secret_file(path_value: Any, path: str) -> Secret:
    if not isinstance(path_value, str):
        raise ConfigError(f"{path}: expected a file path, got {type(path_value).__name__}")
    path_value = expand_env(path_value, path)  # the path itself may be ${VAR:-default}
    try:
        value = Path(path_value).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read secret file {path_value}: {exc.strerror}") from None
    secrets.register(value)
    return Secret(value)


# Secret keys holding a connection string rather than a bare key: without a password such a string is
# legitimately literal (peer or trust authentication), so only a literal password is refused.
_CONNECTION_KEYS = ("dsn", "url")
_URL_PASSWORD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:(?P<pw>[^@\s]*)@")
_PARAM_PASSWORD = re.compile(r"(?i)(?:^|[\s?&])password\s*=\s*(?P<pw>'[^']*'|[^\s&]*)")
_FROM_ENV = "\0"  # stands for a ${VAR} without default while looking for literal text


def reject_literal_secret(raw: str, path: str) -> None:
    """Refuse a secret written into the file itself: keys come from ``${VAR}`` or ``<key>_file`` only.

    ``raw`` is the value before expansion. A bare secret (API key, token) must reference a variable; a
    connection string (key ``dsn`` or ``*_url``) may be literal but its password must come from a variable.
    A ``${VAR:-default}`` default is text of the file, so a password there counts as literal.
    """
    key = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
    hint = f"use ${{VAR}} or {key}_file"
    if not key.endswith(_CONNECTION_KEYS):
        if not _ENV_RE.search(raw):
            raise ConfigError(f"{path}: secret given as a literal in the file; {hint}")
        return
    text = _ENV_RE.sub(lambda m: _FROM_ENV if m.group(2) is None else m.group(2), raw)
    for pattern in (_URL_PASSWORD, _PARAM_PASSWORD):
        for m in pattern.finditer(text):
            if m["pw"].strip("'").replace(_FROM_ENV, ""):
                raise ConfigError(f"{path}: password given as a literal in the file; {hint}")


def convert(value: Any, tp: Any, path: str) -> Any:
    """Convert parsed YAML ``value`` to the annotated type ``tp``, or raise ConfigError."""
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{path}: expected {_describe(inner)}, got nothing")
    tp = inner
    if isinstance(value, str) and tp is not Secret:
        value = expand_env(value, path)
    origin = get_origin(tp)
    try:
        if tp is Duration:
            return Duration.parse(value)
        if tp is Secret:
            if not isinstance(value, str):
                raise ConfigError(f"{path}: expected a string, got {type(value).__name__}")
            reject_literal_secret(value, path)
            value = expand_env(value, path)
            secrets.register(value)
            return Secret(value)
        if tp is bool:
            if isinstance(value, bool):
                return value
            raise ValueError(f"expected true or false, got {value!r}")
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
                return int(value)
            raise ValueError(f"expected an integer, got {value!r}")
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ValueError(f"expected a number, got {value!r}")
        if tp is str:
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return str(value)
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
        if key.endswith("_file") and base in fields and _is_optional(hints[base])[1] is Secret:
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


def load(path: str | os.PathLike[str]) -> Config:
    """Load and validate a configuration file; raise ConfigError with a one-line message."""
    from exporters.collectors import REGISTRY, settings_class

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    cfg = Config(path=str(p))
    for key, raw in data.items():
        if key == "listen":
            cfg.listen = convert(raw, str, "listen")
        elif key == "log_level":
            cfg.log_level = convert(raw, Literal["debug", "info", "warning", "error"], "log_level")
        elif key == "collectors":
            if not isinstance(raw, dict):
                raise ConfigError("collectors: expected a mapping of collector name to settings")
            for name, settings in raw.items():
                if name not in REGISTRY:
                    raise ConfigError(
                        f"collectors.{name}: unknown collector (known: {', '.join(sorted(REGISTRY))})"
                    )
                built = build_dataclass(settings_class(name), settings or {}, f"collectors.{name}")
                if built.enabled:
                    cfg.collectors[name] = built
        else:
            raise ConfigError(f"{key}: unknown key (known keys: collectors, listen, log_level)")
    if not cfg.collectors:
        raise ConfigError("collectors: no collector is enabled")
    parse_listen(cfg.listen)
    return cfg


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen: expected HOST:PORT such as {DEFAULT_LISTEN}, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)

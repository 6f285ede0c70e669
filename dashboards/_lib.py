"""Panel and dashboard builders on top of grafanalib, and the normaliser to current Grafana JSON.

Reads: the site (``Ctx``: its features and thresholds). Publishes ``timeseries()``, ``stat()`` (each panel
names the site features it reads, ``requires``), ``board()`` (a grafanalib ``Dashboard`` with the
datasource variable, one instance/service variable and the panels the site has,
    laid out) and ``to_json()``: grafanalib 0.7.1 output minus its legacy keys (``rows``, ``style``,
``hideControls``, string datasources, nulls), with a modern ``schemaVersion``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from grafanalib import core as grafana

from monitoring.catalog.context import Ctx
from monitoring.catalog.uids import DATASOURCE as DATASOURCE_UID
from monitoring.model import Threshold

SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}
BASE_STEP = -1e9  # Grafana treats the first step as -Infinity whatever its value; a number keeps JSON null-free
GREEN = "green"


def _steps(thresholds: Sequence[Threshold], unit: str) -> list[dict[str, Any]]:
    if unit == "bool" and not thresholds:  # up-style panels: 0 is bad
        return [{"color": "red", "value": BASE_STEP}, {"color": GREEN, "value": 1.0}]
    steps = [{"color": GREEN, "value": BASE_STEP}]
    for t in sorted(thresholds, key=lambda t: t.value):
        steps.append({"color": t.color, "value": float(t.value)})
    return steps


def _targets(queries: Iterable[tuple[str, str]], instant: bool = False) -> list[grafana.Target]:
    return [
        grafana.Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + i), datasource=DS, instant=instant)
        for i, (expr, legend) in enumerate(queries)
    ]


def _repeat(variable: str | None) -> grafana.Repeat:
    """A panel repeated once per value of ``variable`` (one per host), side by side."""
    return grafana.Repeat(direction="h" if variable else None, variable=variable)


class Panel:
    """A panel before layout: grafanalib object, width, height and the catalog thresholds it draws."""

    def __init__(self, obj: grafana.Panel, w: int, h: int, thresholds: Sequence[Threshold],
                 requires: Sequence[str] = ()):
        self.obj, self.w, self.h, self.thresholds, self.requires = obj, w, h, tuple(thresholds), tuple(requires)


def timeseries(title: str, description: str, queries: Sequence[tuple[str, str]], unit: str,
               thresholds: Sequence[Threshold] = (), w: int = 12, h: int = 8, stack: bool = False,
               min0: bool = True, requires: Sequence[str] = (), repeat: str | None = None) -> Panel:
    obj = grafana.TimeSeries(
        title=title, description=description, dataSource=DS, targets=_targets(queries), unit=unit,
        thresholdsStyleMode="line" if thresholds else "off", legendDisplayMode="list",
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none", "group": "A"},
        fillOpacity=20 if stack else 0, valueMin=0 if min0 else None, tooltipMode="multi", repeat=_repeat(repeat),
    )
    return Panel(obj, w, h, thresholds, requires)


def stat(title: str, description: str, queries: Sequence[tuple[str, str]], unit: str,
         thresholds: Sequence[Threshold] = (), w: int = 6, h: int = 5, reduce: str = "lastNotNull",
         requires: Sequence[str] = (), repeat: str | None = None) -> Panel:
    obj = grafana.Stat(
        title=title, description=description, dataSource=DS, targets=_targets(queries, instant=False),
        format=unit, reduceCalc=reduce, graphMode="area", colorMode="value", textMode="auto", repeat=_repeat(repeat),
    )
    return Panel(obj, w, h, thresholds, requires)


Board = tuple[grafana.Dashboard, list[Panel]]


def board(k: Ctx, uid: str, title: str, description: str, panels: Sequence[Panel], var: tuple[str, str, str],
          tags: Sequence[str] = (), requires: dict[str, tuple[str, ...]] | None = None) -> Board:
    """``var`` = (name, label, PromQL label_values() query) of the instance/service variable. Panels whose
    ``requires`` (or ``requires[title]``) the site lacks are left out."""
    for p in panels:
        p.requires += (requires or {}).get(p.obj.title, ())
    panels = [p for p in panels if k.has(*p.requires)]
    x = y = row_h = 0
    laid: list[Any] = []
    for i, p in enumerate(panels, start=1):
        if x + p.w > 24:
            x, y, row_h = 0, y + row_h, 0
        p.obj.gridPos = grafana.GridPos(h=p.h, w=p.w, x=x, y=y)
        p.obj.id = i
        laid.append(p.obj)
        x += p.w
        row_h = max(row_h, p.h)
    name, label, query = var
    templating = grafana.Templating(list=[
        grafana.Template(name="datasource", label="Data source", query="prometheus", type="datasource",
                   default=DATASOURCE_UID),
        grafana.Template(name=name, label=label, query=query, dataSource=DS, includeAll=True, multi=True,
                   default="$__all", allValue=".*", refresh=2),
    ])
    dash = grafana.Dashboard(
        title=title, uid=uid, description=description, panels=laid, templating=templating,
        tags=["lookout", *tags], timezone="browser", refresh="30s", schemaVersion=SCHEMA_VERSION,
        time=grafana.Time("now-3h", "now"), graphTooltip=1,
    )
    return dash, list(panels)


# --- normalisation -------------------------------------------------------------------------------
DASHBOARD_KEYS = ("uid", "title", "description", "tags", "timezone", "editable", "graphTooltip", "time",
                  "timepicker", "refresh", "schemaVersion", "version", "links", "annotations", "templating",
                  "panels")
PANEL_KEYS = ("id", "type", "title", "description", "datasource", "gridPos", "targets", "fieldConfig",
              "options", "links", "transparent", "maxDataPoints", "interval", "transformations", "repeat",
              "repeatDirection", "maxPerRow")
TARGET_KEYS = ("refId", "datasource", "expr", "legendFormat", "instant", "range", "interval")
VARIABLE_KEYS = ("name", "label", "type", "query", "datasource", "current", "options", "includeAll", "allValue",
                 "multi", "refresh", "regex", "sort", "hide", "skipUrlSync")
STAT_OPTIONS = {"wideLayout": True, "showPercentChange": False, "percentChangeColorMode": "standard"}


def _prune(v: Any) -> Any:
    """Drop nulls and empty strings recursively (grafanalib fills unset fields with them)."""
    if isinstance(v, dict):
        return {k: _prune(x) for k, x in v.items() if x is not None and x != ""}
    if isinstance(v, list):
        return [_prune(x) for x in v if x is not None]
    return v


def _panel(p: dict[str, Any], thresholds: Sequence[Threshold]) -> dict[str, Any]:
    out = {k: p[k] for k in PANEL_KEYS if k in p}
    out["targets"] = [
        {**{k: t[k] for k in TARGET_KEYS if k in t}, "range": not t.get("instant", False)} for t in p["targets"]
    ]
    defaults = out["fieldConfig"]["defaults"]
    defaults["thresholds"] = {"mode": "absolute", "steps": _steps(thresholds, defaults.get("unit", ""))}
    defaults.pop("calcs", None)
    defaults.pop("values", None)
    defaults.pop("limit", None)
    defaults.pop("override", None)
    custom = defaults.get("custom", {})
    for k in ("axisSoftMin", "axisSoftMax"):
        custom.pop(k, None)
    if p["type"] == "timeseries":
        out["options"]["legend"]["showLegend"] = True
    if p["type"] == "stat":
        out["options"] = {**out["options"], **STAT_OPTIONS}
        out["options"]["reduceOptions"].pop("fields", None)
        defaults["color"] = {"mode": "thresholds"}
    out.pop("maxDataPoints", None)
    return out


def _variable(v: dict[str, Any]) -> dict[str, Any]:
    out = {k: v[k] for k in VARIABLE_KEYS if k in v}
    if v["type"] == "datasource":
        out["current"] = {"text": "Prometheus", "value": DATASOURCE_UID}
        out.pop("options", None)
        out.pop("datasource", None)
        out["hide"] = 0
    else:
        out["current"] = {"text": "All", "value": "$__all"}
        out["options"] = []
    out.pop("regex", None)
    return out


# deploys (the `releases` collector): a change of a service's release timestamp, with the new revision
DEPLOYS_EXPR = ("(changes(app_release_timestamp_seconds[2m]) > 0) * on (instance, service) group_left (revision) "
                "app_release_info")
DEPLOYS = {
    "datasource": {"type": "prometheus", "uid": "${datasource}"}, "enable": True, "hide": False,
    "iconColor": "rgba(255, 152, 48, 1)", "name": "Deploys", "expr": DEPLOYS_EXPR,
    "titleFormat": "deploy {{service}}", "textFormat": "{{revision}} on {{host}}", "tagKeys": "service,revision",
    "useValueForTime": False,
}


def to_json(dash: grafana.Dashboard, panels: Sequence[Panel], runbook_url: str,
            deploys: bool = False) -> dict[str, Any]:
    """``deploys``: add the deploy annotations (the site reads releases)."""
    raw = _prune(_encode(dash))
    out = {k: raw[k] for k in DASHBOARD_KEYS if k in raw}
    out["editable"] = True
    out["version"] = 1
    out["links"] = [
        {"title": "Lookout boards", "type": "dashboards", "icon": "external link", "tooltip": "Other lookout boards",
         "tags": ["lookout"], "asDropdown": True, "targetBlank": False, "includeVars": False, "keepTime": True},
        {"title": "Runbooks", "type": "link", "icon": "doc", "tooltip": "What each alert means and how to fix it",
         "url": runbook_url, "tags": [], "asDropdown": False, "targetBlank": True, "includeVars": False,
         "keepTime": False},
    ]
    out["annotations"] = {"list": [{
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
    }, *([DEPLOYS] if deploys else [])]}
    out["timepicker"] = {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m", "1h"]}
    out["templating"] = {"list": [_variable(v) for v in raw["templating"]["list"]]}
    out["panels"] = [_panel(p, panel.thresholds) for p, panel in zip(raw["panels"], panels, strict=True)]
    return _prune(out)


def _encode(obj: Any) -> Any:
    """grafanalib objects -> plain JSON values (what its DashboardEncoder does, without dumping)."""
    if hasattr(obj, "to_json_data"):
        return _encode(obj.to_json_data())
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    return obj

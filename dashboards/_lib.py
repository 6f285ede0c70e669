"""Panel and dashboard builders on grafana-foundation-sdk (Grafana's typed builders, current schema).

Reads: the site (``Ctx``: its features and thresholds). Publishes ``timeseries()``, ``stat()`` (each panel
names the site features it reads, ``requires``), ``board()`` (the SDK ``Dashboard`` model with the
datasource variable, one instance/service variable and the panels the site has, laid out) and ``to_json()``:
the SDK's JSON plus the board links, annotations and the threshold steps, which are written once here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.builders import stat as statb
from grafana_foundation_sdk.builders import timeseries as tsb
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.uids import DATASOURCE as DATASOURCE_UID
from lookout.monitoring.model import Threshold

SCHEMA_VERSION = 39
DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
BASE_STEP = -1e9  # Grafana treats the first step as -Infinity whatever its value; a number keeps JSON null-free
GREEN = "green"


def _steps(thresholds: Sequence[Threshold], unit: str) -> list[dict[str, Any]]:
    if unit == "bool" and not thresholds:  # up-style panels: 0 is bad
        return [{"color": "red", "value": BASE_STEP}, {"color": GREEN, "value": 1.0}]
    steps = [{"color": GREEN, "value": BASE_STEP}]
    for t in sorted(thresholds, key=lambda t: t.value):
        steps.append({"color": t.color, "value": float(t.value)})
    return steps


def _common(p: Any, title: str, description: str, queries: Iterable[tuple[str, str]], unit: str,
            repeat: str | None) -> Any:
    p.title(title).description(description).datasource(DS).unit(unit)
    for i, (expr, legend) in enumerate(queries):
        p.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
                      .datasource(DS).range())
    if repeat:
        p.repeat(repeat).repeat_direction("h")
    return p


class Panel:
    """A panel before layout: SDK panel builder, width, height and the catalog thresholds it draws."""

    def __init__(self, builder: Any, w: int, h: int, thresholds: Sequence[Threshold], requires: Sequence[str] = ()):
        self.builder, self.w, self.h, self.thresholds, self.requires = builder, w, h, tuple(thresholds), tuple(requires)
        self.obj: dm.Panel = builder.build()


def timeseries(title: str, description: str, queries: Sequence[tuple[str, str]], unit: str,
               thresholds: Sequence[Threshold] = (), w: int = 12, h: int = 8, stack: bool = False,
               min0: bool = True, requires: Sequence[str] = (), repeat: str | None = None) -> Panel:
    p = _common(tsb.Panel(), title, description, queries, unit, repeat)
    p.thresholds_style(cb.GraphThresholdsStyleConfig().mode(
        cm.GraphThresholdsStyleMode.LINE if thresholds else cm.GraphThresholdsStyleMode.OFF))
    p.legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.LIST).placement(cm.LegendPlacement.BOTTOM)
             .show_legend(True).calcs([]))
    p.tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
    p.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL if stack else cm.StackingMode.NONE).group("A"))
    p.fill_opacity(20 if stack else 0)
    if min0:
        p.min(0)
    return Panel(p, w, h, thresholds, requires)


def stat(title: str, description: str, queries: Sequence[tuple[str, str]], unit: str,
         thresholds: Sequence[Threshold] = (), w: int = 6, h: int = 5, reduce: str = "lastNotNull",
         requires: Sequence[str] = (), repeat: str | None = None) -> Panel:
    p = _common(statb.Panel(), title, description, queries, unit, repeat)
    p.reduce_options(cb.ReduceDataOptions().calcs([reduce]).values(False))
    p.graph_mode(cm.BigValueGraphMode.AREA).color_mode(cm.BigValueColorMode.VALUE)
    p.text_mode(cm.BigValueTextMode.AUTO).justify_mode(cm.BigValueJustifyMode.AUTO)
    p.orientation(cm.VizOrientation.AUTO).wide_layout(True).show_percent_change(False)
    p.percent_change_color_mode(cm.PercentChangeColorMode.STANDARD).no_value("none")
    p.color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
    return Panel(p, w, h, thresholds, requires)


Board = tuple[dm.Dashboard, list[Panel]]


def board(k: Ctx, uid: str, title: str, description: str, panels: Sequence[Panel], var: tuple[str, str, str],
          tags: Sequence[str] = (), requires: dict[str, tuple[str, ...]] | None = None) -> Board:
    """``var`` = (name, label, PromQL label_values() query) of the instance/service variable. Panels whose
    ``requires`` (or ``requires[title]``) the site lacks are left out."""
    for p in panels:
        p.requires += (requires or {}).get(p.obj.title, ())
    panels = [p for p in panels if k.has(*p.requires)]
    name, label, query = var
    dash = (db.Dashboard(title).uid(uid).description(description).tags(["lookout", *tags]).timezone("browser")
            .refresh("30s").time("now-3h", "now").tooltip(dm.DashboardCursorSync.CROSSHAIR).editable().version(1)
            .timepicker(db.TimePicker().refresh_intervals(["10s", "30s", "1m", "5m", "15m", "1h"]))
            .with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus")
                           .current(dm.VariableOption(text="Prometheus", value=DATASOURCE_UID)))
            .with_variable(db.QueryVariable(name).label(label).query(query).datasource(DS).include_all(True)
                           .multi(True).all_value(".*").refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
                           .sort(dm.VariableSort.ALPHABETICAL_ASC)
                           .current(dm.VariableOption(text="All", value="$__all"))))
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        if x + p.w > 24:
            x, y, row_h = 0, y + row_h, 0
        p.builder.grid_pos(dm.GridPos(h=p.h, w=p.w, x=x, y=y)).id(i)
        dash.with_panel(p.builder)
        x += p.w
        row_h = max(row_h, p.h)
    built = dash.build()
    built.schema_version = SCHEMA_VERSION
    return built, list(panels)


# deploys (the `releases` collector): a change of a service's release timestamp, with the new revision
DEPLOYS_EXPR = ("(changes(lookout_app_release_timestamp_seconds[2m]) > 0) * on (instance, service) "
                "group_left (revision) lookout_app_release_info")
DEPLOYS = {
    "datasource": {"type": "prometheus", "uid": "${datasource}"}, "enable": True, "hide": False,
    "iconColor": "rgba(255, 152, 48, 1)", "name": "Deploys", "expr": DEPLOYS_EXPR,
    "titleFormat": "deploy {{service}}", "textFormat": "{{revision}} on {{host}}", "tagKeys": "service,revision",
    "useValueForTime": False,
}


def to_json(dash: dm.Dashboard, panels: Sequence[Panel], runbook_url: str,
            deploys: bool = False) -> dict[str, Any]:
    """``deploys``: add the deploy annotations (the site reads releases)."""
    out = json.loads(json.dumps(dash, cls=JSONEncoder))
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
    for v in out["templating"]["list"]:  # the SDK writes interval-variable keys on every variable
        for k in ("auto", "auto_count", "auto_min"):
            v.pop(k, None)
    for p, panel in zip(out["panels"], panels, strict=True):
        if "repeat" not in p:  # the SDK writes its default direction on every panel
            p.pop("repeatDirection")
        defaults = p["fieldConfig"]["defaults"]
        defaults["thresholds"] = {"mode": "absolute", "steps": _steps(panel.thresholds, defaults.get("unit", ""))}
    return out

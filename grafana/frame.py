"""What every dashboard has: uid and title in its language, the network's time zone, the
alert annotation on every time series, links to the other dashboards of the same language,
and the station, kind and parameter variables."""

from __future__ import annotations

from collections.abc import Iterable

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from grafana import facts
from grafana.labels import t
from grafana.queries import (
    InfluxQueryBuilder,
    col,
    datasource,
    matches_var,
    one_of,
    select,
    show_tag_values,
)

TAG = "quantrac"
REFRESH = "1m"


def uid(name: str, lang: str) -> str:
    return f"{TAG}-{name}" if lang == "vi" else f"{TAG}-{name}-{lang}"


def dashboard(name: str, title: str, lang: str, time_from: str = "now-24h",
              station_filter: bool = True, time_to: str = "now") -> db.Dashboard:
    """A dashboard shell: uid, title, tags, local time zone, refresh, links, annotation."""
    d = (db.Dashboard(title).uid(uid(name, lang)).tags([TAG, lang])
         .timezone(facts.network().timezone).time(time_from, time_to).refresh(REFRESH)
         .tooltip(dm.DashboardCursorSync.CROSSHAIR).readonly()
         .timepicker(db.TimePicker().refresh_intervals(["1m", "5m", "15m", "1h"]))
         .link(db.DashboardLink(t("dash.links", lang))
               .type(dm.DashboardLinkType.DASHBOARDS).tags([TAG, lang]).as_dropdown(True)
               .include_vars(False).keep_time(True))
         .annotation(alert_annotation(lang, station_filter)))
    return d


def alert_annotation(lang: str, station_filter: bool = True) -> db.AnnotationQuery:
    """Alert transitions (open, update, close) as annotations on every time series."""
    text_field = "text" if lang == "vi" else "text_en"
    where = [matches_var("station")] if station_filter else []
    q = select([col(text_field), col("event"), col("station"), col("rule"), col("severity")],
               "alert", where)
    target = InfluxQueryBuilder(q, "alerts").table().annotation(
        text_field, "station,rule,severity,event")
    return (db.AnnotationQuery().name(t("annotation", lang)).datasource(datasource())
            .enable(True).hide(False).icon_color("red").target(target))  # type: ignore[arg-type]


def _var(name: str, lang: str, query: str, multi: bool,
         current: str | None = None) -> db.QueryVariable:
    v = (db.QueryVariable(name).label(t(f"var.{name}", lang)).datasource(datasource())
         .query(query).refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
         .sort(dm.VariableSort.ALPHABETICAL_ASC).multi(multi).include_all(multi))
    if multi:
        v.current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    elif current is not None:
        v.current(dm.VariableOption(selected=True, text=current, value=current))
    return v


def kind_var(lang: str) -> db.QueryVariable:
    return _var("kind", lang, show_tag_values("kind"), multi=True)


def station_var(lang: str, stations: Iterable[str] | None = None, multi: bool = True,
                by_kind: bool = True) -> db.QueryVariable:
    """Stations with data; limited to `stations` (a regulation group) when given."""
    where = []
    if stations is not None:
        where.append(one_of("station", stations))
    elif by_kind:
        where.append(matches_var("kind"))
    first = None if stations is None else sorted(stations)[0]
    return _var("station", lang, show_tag_values("station", where=where), multi, first)


def param_var(lang: str) -> db.QueryVariable:
    q = show_tag_values("param", where=[matches_var("station")])
    return _var("param", lang, q, multi=True)

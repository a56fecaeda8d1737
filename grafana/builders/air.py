"""Air station detail, one dashboard per regulation group (Phú Quốc: QCVN 05:2023): hourly and
daily VN_AQI with the dominant pollutant and the sub-indices; every parameter's means against
its QCVN limit for each averaging period; the readings and the sensors' status."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from grafana import detail, facts, frame
from grafana.labels import t
from grafana.panels import (
    Flow,
    advice_mappings,
    band_mappings,
    band_thresholds,
    big,
    colour_cells,
    grid_table,
    override,
    pollutant_mappings,
    row,
    series,
    target,
    timeline,
    transform,
    with_thresholds,
)
from grafana.queries import agg, by_time, col, is_, select

STATION = detail.STATION


def index_row(d: db.Dashboard, group: facts.Group, lang: str, flow: Flow) -> None:
    bands = facts.aqi_bands()
    hour = [is_("period", "hour"), STATION]
    day = [is_("period", "day"), STATION]
    d.with_row(row(t("row.index", lang), flow.row()))
    d.with_panel(big(t("aqi.current", lang),
                     [target(select([agg("last", "aqi", "VN_AQI")], "aqi", hour))],
                     flow.place(4, 7), band_thresholds(bands)))
    d.with_panel(big(t("aqi.dominant.now", lang),
                     [target(select([agg("last", "dominant", "dominant")], "aqi", hour))],
                     flow.place(4, 7), mappings=pollutant_mappings(),
                     text_mode=cm.BigValueTextMode.VALUE))
    hourly = select([agg("last", "aqi", "VN_AQI")], "aqi", hour, [by_time("1h")], fill="none")
    d.with_panel(with_thresholds(
        series(t("aqi.hourly", lang), [target(hourly)], flow.place(16, 7), legend=False).min(0),
        band_thresholds(bands), cm.GraphThresholdsStyleMode.AREA))
    daily = select([col("aqi", "VN_AQI")], "aqi", day)
    d.with_panel(with_thresholds(
        series(t("aqi.daily", lang), [target(daily)], flow.place(8, 8), bars=True,
               legend=False).min(0),
        band_thresholds(bands), cm.GraphThresholdsStyleMode.AREA))
    dominant = select([col("dominant", "dominant")], "aqi", hour)
    d.with_panel(timeline(t("aqi.dominant.hourly", lang), [target(dominant)],
                          flow.place(8, 8), pollutant_mappings()))
    table_q = select([col("aqi"), col("band"), col("dominant")], "aqi", day)
    d.with_panel(grid_table(t("aqi.daily.table", lang), [target(table_q, table_format=True)],
                            flow.place(8, 8),
                            transformations=[transform("sortBy", sort=[{"field": "Time",
                                                                        "desc": True}])])
                 .with_override(*override("band", mappings=band_mappings(bands, lang),
                                          display_name=t("col.band", lang)))
                 .with_override(*colour_cells("band"))
                 .with_override(*override("dominant", mappings=pollutant_mappings(),
                                          display_name=t("col.dominant", lang)))
                 .with_override(*override("aqi", display_name=t("col.aqi", lang))))
    d.with_panel(advice_table(t("aqi.advice", lang), lang, hour, flow.place(24, 6)))
    subs = [p for p in facts.aqi_params() if p in group.params]
    sub_q = select([agg("last", f"sub_{p}", facts.param_name(p)) for p in subs], "aqi", hour,
                   [by_time("1h")], fill="none")
    d.with_panel(with_thresholds(
        series(t("aqi.sub", lang), [target(sub_q)], flow.place(24, 8)).min(0),
        band_thresholds(bands), cm.GraphThresholdsStyleMode.DASHED))


def advice_table(title: str, lang: str, where: list[str], grid: dm.GridPos) -> table.Panel:
    """The latest AQI's band with its health message and the recommended activities for the
    general public and sensitive groups (Decision 1459, Bảng 3 asks every channel for them),
    by value mappings on the band key: the texts are data, not stored with each point."""
    parts = ("health", "general", "sensitive")
    q = select([agg("last", "aqi", "aqi"), agg("last", "band", "band"),
                *(agg("last", "band", part) for part in parts)], "aqi", where)
    p = (grid_table(title, [target(q, table_format=True)], grid, t("aqi.advice.desc", lang),
                    transformations=[transform("organize", excludeByName={"Time": True})])
         .with_override(*override("aqi", display_name=t("col.aqi", lang)))
         .with_override(*override("band", mappings=band_mappings(facts.aqi_bands(), lang),
                                  display_name=t("col.band", lang)))
         .with_override(*colour_cells("band")))
    for part in parts:
        p = p.with_override(*override(part, mappings=advice_mappings(part, lang),
                                      display_name=t(f"col.{part}", lang)))
    return p


def dashboard(group: facts.Group, lang: str) -> db.Dashboard:
    name = "air" if sum(g.family == "air" for g in facts.groups()) == 1 else group.slug
    d = (frame.dashboard(name, t("dash.air", lang, regulation=group.regulation), lang,
                         time_from="now-7d")
         .with_variable(frame.station_var(lang, group.ids, multi=False))
         .with_variable(frame.param_var(lang)))
    flow = Flow()
    index_row(d, group, lang, flow)
    detail.add_limits(d, group, lang, flow)
    detail.add_readings(d, lang, flow)
    return d


def build(lang: str) -> list[db.Dashboard]:
    return [dashboard(g, lang) for g in facts.groups() if g.family == "air"]

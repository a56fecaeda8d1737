"""Air station detail, one dashboard per regulation group (Phú Quốc: QCVN 05:2023): hourly and
daily VN_AQI with the dominant pollutant and the sub-indices; the forecast fan of PM and VN_AQI
beside the measured series; every parameter's means against its QCVN limit for each averaging
period; the readings and the sensors' status."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table, timeseries
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
AHEAD = "now+3d"  # the dashboard's range reaches the forecast's 72 h
FORECAST_PARAMS = ("pm2_5", "pm10")  # what forecast/forecaster.py forecasts


def fan_query(param: str) -> str:
    """For each hour the latest forecast made for it (forecast.history.fan_query, the same
    statement under the dashboard's `$timeFilter` and `$station`): past hours show the +1 h
    forecast, future hours the latest issue; `max("issued")` is a selector, so the other
    fields come from the same point."""
    return select([agg("max", "issued", "issued"), col("value", "forecast"), col("lo", "p10"),
                   col("hi", "p90")], "forecast",
                  [STATION, is_("param", param), is_("period", "1h")], [by_time("1h")],
                  fill="none")


def fan_panel(title: str, measured: str, fan: str, lang: str, grid: dm.GridPos,
              unit: str = "") -> timeseries.Panel:
    """The measured series (A) and the forecast fan (B): the central value dashed, the
    10th-90th percentile band filled, `issued` hidden (an epoch, not a value)."""
    hidden = {"viz": True, "legend": True, "tooltip": True}
    p = series(title, [target(measured, "A", alias=t("fc.measured", lang)),
                       target(fan, "B", alias="$col")], grid, unit=unit,
               description=t("fc.desc", lang)).min(0)
    return (p.with_override(*override("issued", **{"custom.hideFrom": hidden}))
            .with_override(*override("forecast", display_name=t("fc.central", lang),
                                     **{"custom.lineStyle": {"fill": "dash",
                                                            "dash": [10, 10]}}))
            .with_override(*override("p10", display_name=t("fc.p10", lang),
                                     **{"custom.lineWidth": 0}))
            .with_override(*override("p90", display_name=t("fc.p90", lang),
                                     **{"custom.lineWidth": 0, "custom.fillBelowTo": "p10",
                                        "custom.fillOpacity": 25})))


def forecast_row(d: db.Dashboard, group: facts.Group, lang: str, flow: Flow) -> None:
    """A panel per forecast parameter (and the hourly VN_AQI) with the station's measured
    hourly series and the forecast fan beside it, labelled a forecast."""
    d.with_row(row(t("row.forecast", lang), flow.row()))
    for p in (p for p in FORECAST_PARAMS if p in group.params):
        measured = select([col("value", "measured")], "mean",
                          [STATION, is_("param", p), is_("period", "1h"),
                           '"complete" = true'])
        d.with_panel(fan_panel(t("fc.title", lang, param=facts.param_name(p)), measured,
                               fan_query(p), lang, flow.place(8, 8), unit="µg/m³"))
    measured = select([col("aqi", "measured")], "aqi", [is_("period", "hour"), STATION])
    d.with_panel(with_thresholds(
        fan_panel(t("fc.title.aqi", lang), measured, fan_query("vn_aqi"), lang,
                  flow.place(8, 8)),
        band_thresholds(facts.aqi_bands()), cm.GraphThresholdsStyleMode.DASHED))


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
                         time_from="now-7d", time_to=AHEAD)
         .with_variable(frame.station_var(lang, group.ids, multi=False))
         .with_variable(frame.param_var(lang)))
    flow = Flow()
    index_row(d, group, lang, flow)
    forecast_row(d, group, lang, flow)
    detail.add_limits(d, group, lang, flow)
    detail.add_readings(d, lang, flow)
    return d


def build(lang: str) -> list[db.Dashboard]:
    return [dashboard(g, lang) for g in facts.groups() if g.family == "air"]

"""Network overview: a map of the stations coloured by their latest VN_AQI / VN_WQI band, the
latest indices, last seen and completeness per station, hourly indices, open alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import geomap
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as geomap_model

from grafana import facts, frame
from grafana.labels import t
from grafana.panels import (
    advice_mappings,
    band_mappings,
    band_thresholds,
    big,
    grid_table,
    override,
    pos,
    series,
    target,
    transform,
    with_thresholds,
)
from grafana.queries import agg, by_time, ident, is_, matches_var, select, since

ADVICE = ("health", "general", "sensitive")  # Decision 1459, Bảng 4 and 5

GAZETTEER = "public/gazetteer/quantrac-{network}.json"  # written by `quantrac grafana build`
STATION_FILTER = [matches_var("kind"), matches_var("station")]
OPEN_WINDOW = "30d"  # an alert still open is found among the transitions of this window


def _filter(where: list[str] | None) -> list[str]:
    """None: the dashboard's station variable; a list (the wall's empty one): exactly that."""
    return [matches_var("station")] if where is None else where


def gazetteer_path() -> str:
    return GAZETTEER.format(network=facts.network().network)


def latest_aqi(where: list[str] | None = None) -> str:
    return select([agg("last", "aqi", "aqi"), agg("last", "band", "band"),
                   agg("last", "dominant", "dominant"),
                   # shown by band (advice_mappings): what the AQI means for health
                   *(agg("last", "band", part) for part in ADVICE)], "aqi",
                  [is_("period", "hour"), *_filter(where)],
                  [ident("station")])


# The network's surface-water stations measure too few VN_WQI groups for the official index
# (Decision 1460's data-sufficiency rule), so what is shown is the indicative one, labelled so.
WQI_FIELD, WQI_CLASS = "indicative_wqi", "indicative_class"


def latest_wqi(where: list[str] | None = None) -> str:
    return select([agg("last", WQI_FIELD, WQI_FIELD), agg("last", WQI_CLASS, WQI_CLASS)],
                  "wqi", _filter(where), [ident("station")])


def open_alerts_count(where: list[str] | None = None) -> str:
    inner = select([agg("last", "state", "state")], "alert", _filter(where),
                   [ident("station"), ident("rule")], when=since(OPEN_WINDOW))
    return f"SELECT count({ident('state')}) FROM ({inner}) WHERE {is_('state', 'open')}"


def _layer(name: str, ref: str, field: str) -> cb.MapLayerOptions:
    style = {"color": {"field": field, "fixed": "dark-green"}, "opacity": 0.9,
             "size": {"fixed": 14, "max": 15, "min": 2},
             "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
             "text": {"field": "station", "fixed": "", "mode": "field"},
             "textConfig": {"fontSize": 11, "offsetY": -18, "textAlign": "center",
                            "textBaseline": "bottom"}}
    return (cb.MapLayerOptions().type("markers").name(name)
            .config({"showLegend": True, "style": style})
            .location(cb.FrameGeometrySource().mode(cm.FrameGeometrySourceMode.LOOKUP)
                      .lookup("station").gazetteer(gazetteer_path()))
            .filter_data({"id": "byRefId", "options": ref}).tooltip(True))


def station_map(lang: str, grid: dm.GridPos, where: list[str] | None = None) -> geomap.Panel:
    """Markers at each station's registry coordinates (the gazetteer), coloured by band."""
    stations = facts.network().stations
    lat = round(sum(s.lat for s in stations) / len(stations), 4)
    lon = round(sum(s.lon for s in stations) / len(stations), 4)
    aqi_bands, wqi_classes = facts.aqi_bands(), facts.wqi_classes()
    p = (geomap.Panel().title(t("map", lang)).description(t("map.desc", lang))
            .datasource(frame.datasource()).grid_pos(grid)
            .with_target(target(latest_aqi(where), "A", table_format=True))
            .with_target(target(latest_wqi(where), "B", table_format=True))
            .view(geomap.MapViewConfig().id("coords").lat(lat).lon(lon).zoom(11))  # type: ignore[arg-type]
            .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
            .basemap(cb.MapLayerOptions().type("default").name("Basemap"))
            .layers([_layer(t("layer.aqi", lang), "A", "aqi"),
                     _layer(t("layer.wqi", lang), "B", WQI_FIELD)])
            .tooltip(geomap.TooltipOptions().mode(geomap_model.TooltipMode.DETAILS))
            .with_override(dm.MatcherConfig(id_val="byName", options="aqi"), [
                dm.DynamicConfigValue(id_val="thresholds",
                                      value=band_thresholds(aqi_bands).build()),
                dm.DynamicConfigValue(id_val="color", value={"mode": "thresholds"})])
            .with_override(dm.MatcherConfig(id_val="byName", options=WQI_FIELD), [
                dm.DynamicConfigValue(id_val="thresholds",
                                      value=band_thresholds(wqi_classes).build()),
                dm.DynamicConfigValue(id_val="color", value={"mode": "thresholds"})])
            .with_override(dm.MatcherConfig(id_val="byName", options="band"), [
                dm.DynamicConfigValue(id_val="mappings",
                                      value=band_mappings(aqi_bands, lang))])
            .with_override(dm.MatcherConfig(id_val="byName", options=WQI_CLASS), [
                dm.DynamicConfigValue(id_val="mappings",
                                      value=band_mappings(wqi_classes, lang))]))
    for part in ADVICE:
        p = p.with_override(*override(part, mappings=advice_mappings(part, lang),
                                      display_name=t(f"col.{part}", lang)))
    return p


def aqi_tiles(lang: str, grid: dm.GridPos, where: list[str] | None = None):
    q = select([agg("last", "aqi")], "aqi", [is_("period", "hour"),
                                             *_filter(where)],
               [by_time("1h"), ident("station")], fill="none")
    return big(t("aqi.now", lang), [target(q, alias="$tag_station")], grid,
               band_thresholds(facts.aqi_bands()))


def wqi_tiles(lang: str, grid: dm.GridPos, where: list[str] | None = None):
    q = select([agg("last", WQI_FIELD)], "wqi", _filter(where),
               [by_time("1h"), ident("station")], fill="none")
    return big(t("wqi.now", lang), [target(q, alias="$tag_station")], grid,
               band_thresholds(facts.wqi_classes()))


def station_table(lang: str, grid: dm.GridPos, where: list[str] | None = None):
    """Last seen (time of the latest reading) and the share of the hours' expected records
    that were valid, per station."""
    where = STATION_FILTER if where is None else where
    seen = select([agg("last", "status", "status")], "reading", where, [ident("station")])
    done = select([f"sum({ident('n')}) / sum({ident('expected')}) AS {ident('completeness')}"],
                  "mean", [is_("period", "1h"), *where], [ident("station")])
    return (grid_table(t("stations", lang),
                       [target(seen, "A", table_format=True),
                        target(done, "B", table_format=True)], grid,
                       transformations=[transform("joinByField", byField="station",
                                                  mode="outer"),
                                        transform("organize", excludeByName={"status": True},
                                                  renameByName={
                                                      "station": t("col.station", lang),
                                                      "completeness":
                                                          t("col.completeness", lang)})])
            .override_by_field_type("time", [
                dm.DynamicConfigValue(id_val="unit", value="dateTimeFromNow"),
                dm.DynamicConfigValue(id_val="displayName", value=t("col.last_seen", lang))])
            .override_by_name("completeness", [
                dm.DynamicConfigValue(id_val="unit", value="percentunit"),
                dm.DynamicConfigValue(id_val="custom.cellOptions",
                                      value={"type": "color-background"}),
                dm.DynamicConfigValue(id_val="thresholds", value=db.ThresholdsConfig()
                                      .mode(dm.ThresholdsMode.ABSOLUTE)
                                      .steps([dm.Threshold(None, "red"),
                                              dm.Threshold(0.75, "green")]).build())]))


def hourly(lang: str, index: str, grid: dm.GridPos, where: list[str] | None = None):
    bands = facts.aqi_bands() if index == "aqi" else facts.wqi_classes()
    cond = [is_("period", "hour")] if index == "aqi" else []
    q = select([agg("last", "aqi" if index == "aqi" else WQI_FIELD)], index,
               [*cond, *_filter(where)],
               [by_time("1h"), ident("station")], fill="none")
    p = series(t(f"{index}.hourly", lang), [target(q, alias="$tag_station")], grid)
    return with_thresholds(p.min(0), band_thresholds(bands), cm.GraphThresholdsStyleMode.AREA)


def build(lang: str) -> list[db.Dashboard]:
    d = (frame.dashboard("overview", t("dash.overview", lang), lang)
         .with_variable(frame.kind_var(lang)).with_variable(frame.station_var(lang)))
    d.with_panel(station_map(lang, pos(0, 0, 14, 20)))
    d.with_panel(aqi_tiles(lang, pos(14, 0, 10, 8)))
    d.with_panel(wqi_tiles(lang, pos(14, 8, 10, 6)))
    d.with_panel(big(t("alerts.open.count", lang), [target(open_alerts_count())],
                     pos(14, 14, 10, 6), db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
                     .steps([dm.Threshold(None, "green"), dm.Threshold(1, "red")])))
    d.with_panel(station_table(lang, pos(0, 20, 10, 14)))
    d.with_panel(hourly(lang, "aqi", pos(10, 20, 14, 7)))
    d.with_panel(hourly(lang, "wqi", pos(10, 27, 14, 7)))
    return [d]

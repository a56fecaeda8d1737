"""Data quality and devices: QC flag shares, time in device status 01/02, hourly completeness;
each station's connection, firmware, free heap, backlog, RSSI, errors and reset causes (the
`device` measurement), and the collector's own queue and spool."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import piechart
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from grafana import facts, frame
from grafana.labels import t
from grafana.panels import (
    QC_COLOURS,
    Flow,
    colour_cells,
    grid_table,
    online_mappings,
    override,
    row,
    series,
    status_mappings,
    target,
    text_mappings,
    thresholds,
    timeline,
    transform,
    with_thresholds,
)
from grafana.queries import (
    agg,
    by_time,
    col,
    ident,
    is_,
    matches_var,
    one_of,
    select,
    since,
)

WHERE = [matches_var("kind"), matches_var("station")]
BY_STATION = [ident("station")]
DEVICE_WINDOW = "30d"  # the latest status and health of a station, however quiet it has been
FLEET_WINDOW = "365d"  # the last update and the last boot: rare events, kept however old
QC_FLAGS = (1, 3, 4, 9)


def _device(message: str) -> list[str]:
    return [is_("message", message), *WHERE]


def qc_targets(lang: str, over_time: bool) -> list:
    out = []
    for ref, flag in zip("ABCD", QC_FLAGS, strict=True):
        q = select([agg("count", "qc", t(f"qc.{flag}", lang))], "reading",
                   [f"{ident('qc')} = {flag}", *WHERE],
                   [by_time()] if over_time else (), fill="0" if over_time else None)
        out.append(target(q, ref))
    return out


def qc_colours(p, lang: str):
    for flag in QC_FLAGS:
        p.with_override(*override(t(f"qc.{flag}", lang),
                                  color={"mode": "fixed", "fixedColor": QC_COLOURS[flag]}))
    return p


def status_time(lang: str) -> list:
    """Seconds spent in status 01 and 02 per station and parameter: records × the report
    interval of the station's profile."""
    out, refs = [], iter("ABCDEFGHIJKLMNOP")
    periods = facts.report_periods()
    for report_s, stations in periods.items():
        only = [one_of("station", stations)] if len(periods) > 1 else []
        for status in (1, 2):
            q = select([f"count({ident('status')}) * {report_s} AS {ident(f'status0{status}')}"],
                       "reading", [f"{ident('status')} = {status}", *WHERE, *only],
                       [ident("station"), ident("param")])
            out.append(target(q, next(refs), table_format=True))
    return out


def qc_row(d: db.Dashboard, lang: str, flow: Flow) -> None:
    d.with_row(row(t("row.qc", lang), flow.row()))
    pie = (piechart.Panel().title(t("qc.shares", lang)).datasource(frame.datasource())
           .grid_pos(flow.place(8, 9)).pie_type("donut")
           .hide_from(cb.HideSeriesConfig().legend(False).tooltip(False).viz(False))
           .reduce_options(cb.ReduceDataOptions().calcs(["sum"]).values(False))
           .legend(piechart.PieChartLegendOptions().show_legend(True).values(["percent"])
                   .display_mode(cm.LegendDisplayMode.TABLE)
                   .placement(cm.LegendPlacement.RIGHT)))
    for q in qc_targets(lang, over_time=False):
        pie.with_target(q)
    d.with_panel(qc_colours(pie, lang))
    over = series(t("qc.over_time", lang), qc_targets(lang, over_time=True), flow.place(16, 9),
                  bars=True).stacking(cb.StackingConfig().mode(cm.StackingMode.PERCENT))
    d.with_panel(qc_colours(over.unit("percentunit"), lang))
    d.with_panel(grid_table(t("status.time", lang), status_time(lang), flow.place(10, 9),
                            transformations=[transform("merge"), transform(
                                "organize", excludeByName={"Time": True},
                                renameByName={"station": t("col.station", lang),
                                              "param": t("col.param", lang),
                                              "status01": t("col.status01", lang),
                                              "status02": t("col.status02", lang)})])
                 .unit("s"))
    status = select([agg("max", "status")], "reading", WHERE, [by_time(), ident("station")],
                    fill="null")
    d.with_panel(timeline(t("status.by_station", lang), [target(status, alias="$tag_station")],
                          flow.place(14, 9), status_mappings(lang)))
    done = select([f"sum({ident('n')}) / sum({ident('expected')})"], "mean",
                  [is_("period", "1h"), *WHERE], [by_time("1h"), ident("station")],
                  fill="none")
    d.with_panel(with_thresholds(
        series(t("completeness", lang), [target(done, alias="$tag_station")],
               flow.place(24, 8), unit="percentunit").min(0).max(1),
        thresholds([(None, "red"), (0.75, "transparent")]),
        cm.GraphThresholdsStyleMode.DASHED))


def devices_table(lang: str, grid: dm.GridPos):
    status = select([agg("last", "online", "online"), agg("last", "fw", "fw")], "device",
                    _device("status"), BY_STATION, when=since(DEVICE_WINDOW))
    health = select([agg("last", k, k) for k in ("heap", "backlog", "rssi", "uptime",
                                                  "errors")],
                    "device", _device("health"), BY_STATION, when=since(DEVICE_WINDOW))
    names = {k: t(f"col.{k}", lang) for k in ("station", "online", "fw", "heap", "backlog",
                                              "rssi", "uptime", "errors")}
    return (grid_table(t("devices", lang), [target(status, "A", table_format=True),
                                            target(health, "B", table_format=True)], grid,
                       transformations=[transform("joinByField", byField="station",
                                                  mode="outer"),
                                        transform("organize", renameByName=names)])
            .override_by_field_type("time", [dm.DynamicConfigValue(id_val="custom.hidden",
                                                                    value=True)])
            .with_override(*override(names["online"], mappings=online_mappings(lang)))
            .with_override(*colour_cells(names["online"]))
            .with_override(*override(names["heap"], unit="bytes"))
            .with_override(*override(names["rssi"], unit="dBm"))
            .with_override(*override(names["uptime"], unit="s")))


def latest(fields: list[str], message: str) -> str:
    """Each station's newest `message` point, all fields from that one point (last() per
    field would give a newer update's state beside an older one's `why`)."""
    return select([col(f) for f in fields], "device", _device(message), BY_STATION,
                  when=since(FLEET_WINDOW)) + " ORDER BY time DESC LIMIT 1"


UPDATE_STATES = (("good", "green"), ("staged", "blue"), ("download", "blue"),
                 ("refused", "red"), ("rolled_back", "red"))


def fleet_firmware(lang: str, grid: dm.GridPos):
    """Per station: the version and slot it booted last (its birth; `-`, no slot, for a
    station flashed without OTA, blank from firmware that does not say), its last update
    result (the `ota` event: state, version, why, when) and why it last booted (reset cause,
    what it was doing): `quantrac fleet status` on the wall."""
    names = {"station": t("col.station", lang), "fw": t("col.fw", lang),
             "slot": t("col.slot", lang),
             "state": t("col.update", lang), "ver": t("col.update_ver", lang),
             "why": t("col.why", lang), "Time 1": t("col.when", lang),
             "reset": t("col.reset", lang), "crumb": t("col.crumb", lang)}
    return (grid_table(t("fleet", lang), [
        target(latest(["state", "ver", "why"], "ota"), "A", table_format=True),
        target(latest(["fw", "slot", "reset", "crumb"], "birth"), "B", table_format=True)],
        grid, t("fleet.desc", lang), transformations=[
            transform("joinByField", byField="station", mode="outer"),
            # joined, each query's time is "Time <n>" in query order: A's is the update's
            transform("organize", excludeByName={"Time 2": True}, renameByName=names,
                      indexByName={k: i for i, k in enumerate(names)}),
            transform("sortBy", sort=[{"field": names["station"]}])])
        .with_override(*override(names["state"], mappings=text_mappings(
            (state, t(f"update.{state}", lang), colour) for state, colour in UPDATE_STATES)))
        .with_override(*colour_cells(names["state"]))
        .with_override(*override(names["slot"], mappings=text_mappings(
            [("-", t("slot.none", lang), None)]))))


def devices_row(d: db.Dashboard, lang: str, flow: Flow) -> None:
    d.with_row(row(t("row.devices", lang), flow.row()))
    d.with_panel(devices_table(lang, flow.place(24, 9)))
    online = select([agg("last", "online")], "device", _device("status"),
                    [by_time(), ident("station")], fill="previous")
    d.with_panel(timeline(t("online.timeline", lang), [target(online, alias="$tag_station")],
                          flow.place(12, 8), online_mappings(lang)))
    for key, fn, unit, w in (("backlog", "max", "none", 12), ("rssi", "mean", "dBm", 8),
                             ("heap", "min", "bytes", 8), ("errors", "max", "none", 8)):
        q = select([agg(fn, key)], "device", _device("health"), [by_time(), ident("station")],
                   fill="none")
        d.with_panel(series(t(key, lang), [target(q, alias="$tag_station")],
                            flow.place(w, 8), unit=unit))
    fw = select([agg("last", "fw", "fw")], "device", _device("status"), BY_STATION,
                when=since(DEVICE_WINDOW))
    d.with_panel(grid_table(t("firmware", lang), [target(fw, table_format=True)],
                            flow.place(8, 8), transformations=[
                                transform("merge"),
                                transform("groupBy", fields={
                                    "fw": {"aggregations": [], "operation": "groupby"},
                                    "station": {"aggregations": ["count"],
                                                "operation": "aggregate"}}),
                                transform("organize", renameByName={
                                    "fw": t("col.fw", lang),
                                    "station (count)": t("col.stations", lang)})]))
    births = select([col("reset"), col("crumb"), col("fw"), col("boots"), col("uptime_before")],
                    "device", _device("birth"), BY_STATION)
    d.with_panel(grid_table(t("reset.causes", lang), [target(births, table_format=True)],
                            flow.place(6, 8), transformations=[
                                transform("merge"),
                                transform("groupBy", fields={
                                    "reset": {"aggregations": [], "operation": "groupby"},
                                    "station": {"aggregations": ["count"],
                                                "operation": "aggregate"}}),
                                transform("organize", renameByName={
                                    "reset": t("col.reset", lang),
                                    "station (count)": t("col.count", lang)})]))
    d.with_panel(grid_table(t("resets", lang), [target(births, table_format=True)],
                            flow.place(10, 8), transformations=[
                                transform("merge"),
                                transform("sortBy", sort=[{"field": "Time", "desc": True}]),
                                transform("organize", renameByName={
                                    k: t(f"col.{k}", lang)
                                    for k in ("station", "reset", "crumb", "fw", "boots")})])
                 .with_override(*override("uptime_before", unit="s")))
    d.with_panel(fleet_firmware(lang, flow.place(24, 8)))
    collector = select([agg("last", "queued", t("collector.queued", lang)),
                        agg("last", "spool_pending_bytes", t("collector.spool", lang))],
                       "collector", [is_("scope", "total")], [by_time()], fill="none")
    d.with_panel(series(t("collector", lang), [target(collector)], flow.place(24, 7))
                 .with_override(*override(t("collector.spool", lang), unit="bytes")))


def build(lang: str) -> list[db.Dashboard]:
    d = (frame.dashboard("quality", t("dash.quality", lang), lang)
         .with_variable(frame.kind_var(lang)).with_variable(frame.station_var(lang)))
    flow = Flow()
    qc_row(d, lang, flow)
    devices_row(d, lang, flow)
    return [d]

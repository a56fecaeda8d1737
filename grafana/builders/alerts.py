"""Alerts: what is open now and who acknowledged it, the history of every transition (answers
included: who acknowledged what, with the note; escalations), alerts opened per day and per
rule. The same transitions are annotations on every time series of every dashboard."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from grafana import frame
from grafana.labels import t
from grafana.panels import (
    Flow,
    colour_cells,
    grid_table,
    override,
    series,
    severity_mappings,
    target,
    text_mappings,
    transform,
)
from grafana.queries import agg, by_time, col, ident, is_, matches_var, select, since

OPEN_WINDOW = "30d"  # an alert still open is found among the transitions of this window
TAGS = [ident("station"), ident("rule"), ident("severity")]
ALERT_STATION = [matches_var("station")]  # `kind` is not a tag of `alert`


def text_field(lang: str) -> str:
    return "text" if lang == "vi" else "text_en"


def open_alerts(lang: str, where: list[str] | None = None) -> str:
    """The latest transition of each (station, rule) in the window, kept when it is open."""
    fields = [agg("last", "state", "state"), agg("last", text_field(lang), "text"),
              agg("last", "value", "value"), agg("last", "limit", "limit"),
              agg("last", "unit", "unit"), agg("last", "id", "id"),
              # every transition of an alert carries who acknowledged it ("" nobody yet), so
              # the last one is this alert's, never an earlier alert's of the same rule
              agg("last", "ack_by", "ack_by"), agg("last", "ack_note", "ack_note")]
    inner = select(fields, "alert", ALERT_STATION if where is None else where, TAGS,
                   when=since(OPEN_WINDOW))
    return f"SELECT * FROM ({inner}) WHERE {is_('state', 'open')} GROUP BY *"


def _columns(lang: str) -> dict[str, str]:
    return {k: t(f"col.{k}", lang) for k in ("station", "rule", "severity", "state", "event",
                                            "text", "value", "limit", "unit", "id", "ack_by",
                                            "ack_note")}


def table_panel(title: str, statement: str, lang: str, grid: dm.GridPos,
                with_time: bool = True) -> table.Panel:
    """Alert rows with their columns named, severity, state and event shown as words; the
    newest first. `with_time=False` for the open alerts, whose time is the window's start."""
    cols = _columns(lang)
    return (grid_table(title, [target(statement, table_format=True)], grid,
                       transformations=[transform("merge"),
                                        transform("sortBy", sort=[{"field": "Time",
                                                                   "desc": True}]),
                                        transform("organize", renameByName=cols,
                                                  excludeByName={"Time": not with_time})])
            .with_override(*override(cols["severity"], mappings=severity_mappings(lang)))
            .with_override(*colour_cells(cols["severity"]))
            .with_override(*override(cols["state"], mappings=text_mappings(
                (s, t(f"state.{s}", lang), "red" if s == "open" else "green")
                for s in ("open", "closed"))))
            .with_override(*override(cols["event"], mappings=text_mappings(
                (e, t(f"event.{e}", lang), None)
                for e in ("open", "update", "close", "ack", "escalate")))))


def build(lang: str) -> list[db.Dashboard]:
    d = (frame.dashboard("alerts", t("dash.alerts", lang), lang, time_from="now-7d")
         .with_variable(frame.kind_var(lang)).with_variable(frame.station_var(lang)))
    flow = Flow()
    d.with_panel(table_panel(t("alerts.open", lang), open_alerts(lang), lang, flow.place(24, 9),
                             with_time=False))
    history = select([col("event"), col("state"), col(text_field(lang), "text"), col("value"),
                      col("limit"), col("unit"), col("id"), col("ack_by"), col("ack_note")],
                     "alert", ALERT_STATION, TAGS)
    d.with_panel(table_panel(t("alerts.history", lang), history, lang, flow.place(24, 12)))
    opened = [is_("event", "open"), *ALERT_STATION]
    per_day = select([agg("count", "state")], "alert", opened, [by_time("1d"),
                                                                 ident("severity")],
                     fill="none")
    d.with_panel(series(t("alerts.per_day", lang), [target(per_day, alias="$tag_severity")],
                        flow.place(12, 8), bars=True)
                 .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)))
    by_rule = select([agg("count", "state", "count")], "alert", opened, [ident("rule")])
    d.with_panel(grid_table(t("alerts.by_rule", lang), [target(by_rule, table_format=True)],
                            flow.place(12, 8),
                            transformations=[transform("merge"), transform(
                                "organize", excludeByName={"Time": True},
                                renameByName={"rule": t("col.rule", lang),
                                              "count": t("col.count", lang)})]))
    d.with_panel(maintenance_panel(lang, flow.place(24, 8)))
    return [d]


def maintenance_panel(lang: str, grid: dm.GridPos) -> table.Panel:
    """Each maintenance window (planned, or the station's calibration): while it lasts its
    alerts reach nobody, and its readings in it were taken during maintenance."""
    cols = {k: t(f"col.{k}", lang) for k in ("station", "source", "until", "reason", "by")}
    until_ms = f'{ident("until")} * 1000 AS {ident("until")}'  # epoch s → Grafana's ms
    q = select([until_ms, col("reason"), col("by")], "maintenance", ALERT_STATION,
               [ident("station"), ident("source")])
    return (grid_table(t("alerts.maintenance", lang), [target(q, table_format=True)], grid,
                       transformations=[transform("merge"),
                                        transform("sortBy", sort=[{"field": "Time",
                                                                   "desc": True}]),
                                        transform("organize", renameByName=cols)])
            .with_override(*override(cols["until"], unit="dateTimeAsLocal",
                                     mappings=text_mappings(
                                         [("0", t("maintenance.ongoing", lang), None)])))
            .with_override(*override(cols["source"], mappings=text_mappings(
                (s, t(f"source.{s}", lang), None) for s in ("operator", "calibration")))))

"""Water station detail, one dashboard per regulation column (tap water, surface water,
wastewater A and B, sea water by use): for surface water only (Decision 1460), the official
hourly VN_WQI when the data suffice, else the indicative one and why, with its sub-indices;
pH, DO, TSS and NH4 (tap water: turbidity and free chlorine; wastewater: COD and flow; sea
water: conductivity and salinity) hourly means against the station class limits (a fallback
limit says whose number it is); an outfall's daily discharge volume; the readings and the
sensors' status."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm

from collector.domain import wqi
from collector.processors.aggregate.volume import FLOW_PARAM, VOLUME_PARAM
from grafana import detail, facts, frame
from grafana.labels import has, t
from grafana.panels import (
    Flow,
    band_mappings,
    band_thresholds,
    big,
    row,
    series,
    target,
    text_mappings,
    with_thresholds,
)
from grafana.queries import agg, by_time, col, is_, select

# hourly means shown, limited or not, where the group's stations measure them
SHOWN = ("ph", "do", "tss", "nh4", "temp", "turbidity", "chlorine", "cod", "flow",
         "conductivity", "salinity")
WQI_SUBS = ("ph", "do", "nh4")


def title(group: facts.Group, lang: str) -> str:
    kind = " / ".join(t(f"kind.{k}", lang) for k in group.kinds)
    column = ""
    if group.column:
        key = f"column.{group.column}"
        column = t(key, lang) if has(key) else t("column", lang, column=group.column)
    return t("dash.water", lang, kind=kind, regulation=group.regulation, column=column)


def index_row(d: db.Dashboard, lang: str, flow: Flow) -> None:
    """The official VN_WQI (only with enough data), the indicative one, its class and why the
    official one is not computed; hourly, with the sub-indices."""
    classes = facts.wqi_classes()
    where = [detail.STATION]
    d.with_row(row(t("row.index", lang), flow.row()))
    # whether the official index exists (status), rather than its value: a panel that is empty
    # by design would read as a fault (and `grafana check` would call it one)
    d.with_panel(big(t("wqi.official", lang),
                     [target(select([agg("last", "status", "status")], "wqi", where))],
                     flow.place(4, 7), mappings=text_mappings(
                         (k, t(f"wqi.status.{k}", lang), c) for k, c in
                         (("computed", "green"), ("not_computed", "orange"))),
                     text_mode=cm.BigValueTextMode.VALUE))
    d.with_panel(big(t("wqi.current", lang),
                     [target(select([agg("last", "indicative_wqi", "indicative")], "wqi",
                                    where))],
                     flow.place(4, 7), band_thresholds(classes)))
    d.with_panel(big(t("col.band", lang),
                     [target(select([agg("last", "indicative_class", "class")], "wqi",
                                    where))],
                     flow.place(4, 7), mappings=band_mappings(classes, lang),
                     text_mode=cm.BigValueTextMode.VALUE))
    d.with_panel(big(t("wqi.why", lang),
                     [target(select([agg("last", "why", "why")], "wqi", where))],
                     flow.place(12, 7), text_mode=cm.BigValueTextMode.VALUE))
    hourly = select([agg("last", "wqi", "VN_WQI"), agg("last", "indicative_wqi", "indicative")],
                    "wqi", where, [by_time("1h")], fill="none")
    d.with_panel(with_thresholds(
        series(t("wqi.hourly", lang), [target(hourly)], flow.place(24, 7), legend=False)
        .min(0).max(100), band_thresholds(classes), cm.GraphThresholdsStyleMode.AREA))
    subs = select([agg("last", f"sub_{p}", facts.param_name(p)) for p in WQI_SUBS], "wqi",
                  where, [by_time("1h")], fill="none")
    d.with_panel(series(t("wqi.sub", lang), [target(subs)], flow.place(24, 7))
                 .min(0).max(100))


def volume_panel(d: db.Dashboard, group: facts.Group, lang: str, flow: Flow) -> None:
    """The daily discharge volume (the collector's `mean` param `volume`, period `24h`) of an
    outfall whose stations measure flow: what a permit's m³/day and the flow tiers speak of."""
    if not any(FLOW_PARAM in s.params() for s in group.stations):
        return
    q = select([col("value", t("volume", lang))], "mean",
               [detail.STATION, is_("param", VOLUME_PARAM), is_("period", "24h")])
    d.with_panel(series(t("volume", lang), [target(q)], flow.place(12, 7),
                        unit="suffix: m³", description=t("volume.about", lang), bars=True,
                        legend=False))


def dashboard(group: facts.Group, lang: str) -> db.Dashboard:
    d = (frame.dashboard(group.slug, title(group, lang), lang, time_from="now-7d")
         .with_variable(frame.station_var(lang, group.ids, multi=False))
         .with_variable(frame.param_var(lang)))
    flow = Flow()
    if any(wqi.refusal(k) is None for k in group.kinds):  # Decision 1460: surface water only
        index_row(d, lang, flow)
    detail.add_limits(d, group, lang, flow, SHOWN)
    volume_panel(d, group, lang, flow)
    detail.add_readings(d, lang, flow)
    return d


def build(lang: str) -> list[db.Dashboard]:
    return [dashboard(g, lang) for g in facts.groups() if g.family == "water"]

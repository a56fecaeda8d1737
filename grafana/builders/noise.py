"""Noise (QCVN 26): the hourly LAeq of the stations with a sound-level meter against the limits
of the periods of the day, each period's LAeq judged when it ended, LAmax events, the L10/L90
spread, and the noise alerts. The limits come from the noise regimes (grafana/noise_facts.py):
nothing is retyped, and a regulation whose clock hours are not found draws no line."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from grafana import frame, noise_facts
from grafana.builders import alerts
from grafana.labels import t
from grafana.panels import (
    Flow,
    grid_table,
    override,
    row,
    series,
    target,
    text_mappings,
    thresholds,
    transform,
    with_thresholds,
)
from grafana.queries import col, ident, is_, matches_var, one_of, select

UNIT = "suffix: dBA"
STATION = matches_var("station")
LIMIT_COLOURS = ("orange", "red")  # the lower (night) line, then the higher ones


def hourly_laeq(where: list[str]) -> str:
    return select([col("value")], "mean", [*where, is_("param", "laeq"), is_("period", "1h")],
                  [ident("station")])


def limit_lines() -> db.ThresholdsConfig:
    values = sorted({x.limit for x in noise_facts.limits()})
    steps: list[tuple[float | None, str]] = [(None, "green")]
    steps += [(v, LIMIT_COLOURS[min(i, 1)]) for i, v in enumerate(values)]
    return thresholds(steps)


def limits_text(lang: str) -> str:
    parts = [t("noise.limit", lang, regulation=x.regulation, area=x.area,
               period=x.label[lang], limit=f"{x.limit:g}",
               until="" if x.until is None else t("noise.until", lang, day=x.until.isoformat()))
             for x in noise_facts.limits()]
    text = "; ".join(parts)
    if unjudged := noise_facts.unjudged():
        text += "." + t("noise.unjudged", lang, regulations=", ".join(unjudged))
    return text


def hourly_panel(lang: str, grid: dm.GridPos, where: list[str], title_key: str = "noise.hourly",
                 description: str = ""):
    p = series(t(title_key, lang), [target(hourly_laeq(where), alias="$tag_station")], grid,
               unit=UNIT, description=description + t("noise.hourly.desc", lang,
                                                       limits=limits_text(lang)))
    return with_thresholds(p, limit_lines(), cm.GraphThresholdsStyleMode.LINE)


def periods_panel(lang: str, grid: dm.GridPos):
    cols = {"station": t("col.station", lang), "period": t("col.period", lang),
            "laeq": t("col.laeq", lang), "limit": t("col.limit", lang),
            "exceeded": t("col.exceeded", lang), "regulation": t("col.regulation", lang),
            "n": t("col.hours", lang)}
    label = "label_vi" if lang == "vi" else "label_en"
    q = select([col(label, "period"), col("laeq"), col("limit"), col("exceeded"),
                col("regulation"), col("n")], "noise_period", [STATION], [ident("station")])
    return (grid_table(t("noise.periods", lang), [target(q, table_format=True)], grid,
                       description=t("noise.periods.desc", lang),
                       transformations=[transform("merge"),
                                        transform("sortBy", sort=[{"field": "Time",
                                                                   "desc": True}]),
                                        transform("organize", renameByName=cols)])
            .with_override(*override(cols["laeq"], decimals=1))
            .with_override(*override(cols["exceeded"], mappings=text_mappings(
                (v, t(f"noise.verdict.{v}", lang), c)
                for v, c in (("true", "red"), ("false", "green"))))))


def build(lang: str) -> list[db.Dashboard]:
    stations = noise_facts.stations()
    d = (frame.dashboard("noise", t("dash.noise", lang), lang, time_from="now-2d")
         .with_variable(frame.station_var(lang, stations)))
    flow = Flow()
    d.with_row(row(t("row.noise", lang), flow.row()))
    d.with_panel(hourly_panel(lang, flow.place(24, 10), [STATION]))
    d.with_panel(periods_panel(lang, flow.place(24, 8)))
    lamax = select([col("value")], "reading", [STATION, is_("param", "lamax")],
                   [ident("station")])
    d.with_panel(series(t("noise.lamax", lang), [target(lamax, alias="$tag_station")],
                        flow.place(12, 8), unit=UNIT, description=t("noise.lamax.desc", lang))
                 .draw_style(cm.GraphDrawStyle.POINTS))
    spread = select([col("value")], "mean", [STATION, one_of("param", ("l10", "l90")),
                                             is_("period", "1h")],
                    [ident("station"), ident("param")])
    d.with_panel(series(t("noise.spread", lang),
                        [target(spread, alias="$tag_station $tag_param")], flow.place(12, 8),
                        unit=UNIT, description=t("noise.spread.desc", lang)))
    noise_rules = f'{ident("rule")} =~ /\\.laeq\\./'
    history = select([col("event"), col("state"), col(alerts.text_field(lang), "text"),
                      col("value"), col("limit"), col("unit"), col("id"), col("ack_by"),
                      col("ack_note")], "alert", [STATION, noise_rules], alerts.TAGS)
    d.with_panel(alerts.table_panel(t("noise.alerts", lang), history, lang, flow.place(24, 8)))
    return [d]

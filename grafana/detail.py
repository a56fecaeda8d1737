"""Pieces of the station detail dashboards (air and water): means against their QCVN limit,
the readings of each parameter, the device status of each sensor."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm

from boards.param_names import base
from grafana import facts
from grafana.labels import t
from grafana.panels import (
    Flow,
    limit_text,
    limit_thresholds,
    rename,
    row,
    series,
    status_mappings,
    target,
    timeline,
    with_thresholds,
)
from grafana.queries import agg, by_time, col, ident, is_, matches_var, one_of, select

STATION = matches_var("station")


def grafana_unit(unit: str) -> str:
    """Grafana's unit id for ours: a suffix with the display form (µg/Nm³, mg/L)."""
    return {"%": "percent", "degC": "celsius", "hPa": "pressurehpa", "pH": "none"}.get(
        unit, "suffix: " + facts.unit_name(unit))


def mean_query(param: str, period: str, channels: tuple[str, ...] = ()) -> str:
    """The means of base `param`. When the group records it under other names too (a second
    probe: `channels` = `temp`, `temp_do`), every channel, one series each (`param` tag)."""
    if channels in ((), (param,)):
        return select([col("value", facts.param_name(param))], "mean",
                      [STATION, is_("param", param), is_("period", period)])
    return select([col("value", facts.param_name(param))], "mean",
                  [STATION, one_of("param", channels), is_("period", period)],
                  [ident("param")])


def mean_panel(group: facts.Group, param: str, period: str, unit: str, lang: str,
               flow: Flow, limit: facts.Limit | None = None) -> db.Dashboard:
    title = t("mean", lang, param=facts.param_name(param),
              period=facts.period_name(period, lang))
    if limit is None:
        desc = t("mean.nolimit", lang, regulation=group.regulation)
    else:
        desc = t("mean.limit", lang, regulation=group.regulation,
                 limit=limit_text(limit, lang), period=facts.period_name(period, lang))
        if limit.fallback:  # the reference found no value: say whose number the line is
            desc += " " + t("mean.fallback", lang, source=limit.fallback,
                            regulation=group.regulation)
    if period == "24h":  # the day in progress is a running estimate, never judged
        desc += " " + t("mean.provisional", lang)
    chans = facts.channels(group, param)
    several = chans not in ((), (param,))
    p = series(title, [target(mean_query(param, period, chans),
                              alias="$tag_param" if several else None)],
               flow.place(12, 7), unit=grafana_unit(unit), description=desc, legend=several)
    for ch in chans if several else ():  # each probe's line says which probe it is
        p.with_override(*rename(ch, facts.channel_name(ch, lang)))
    if limit is not None:
        with_thresholds(p, limit_thresholds(limit), cm.GraphThresholdsStyleMode.LINE_AND_AREA)
    return p


def add_limits(d: db.Dashboard, group: facts.Group, lang: str, flow: Flow,
               params: tuple[str, ...] = ()) -> None:
    """A row of means against the regulation: every limit of the group; and the 1-hour mean
    of each of `params` that has none."""
    d.with_row(row(t("row.limits", lang, regulation=group.regulation), flow.row()))
    units = {base(p): u for s in group.stations for p, u in s.params().items()}
    limited = {lim.param for lim in group.limits}
    for lim in group.limits:
        d.with_panel(mean_panel(group, lim.param, lim.period, lim.unit, lang, flow, lim))
    for param in params:
        if param in units and param not in limited:
            d.with_panel(mean_panel(group, param, "1h", units[param], lang, flow))


def add_readings(d: db.Dashboard, lang: str, flow: Flow) -> None:
    """A row with the readings of each selected parameter (one panel per parameter) and the
    device status of every sensor of the station."""
    d.with_row(row(t("row.readings", lang), flow.row()))
    q = select([agg("mean", "value")], "reading", [STATION, matches_var("param")],
               [by_time(), ident("param"), ident("unit")], fill="null")
    d.with_panel(series(t("readings", lang, param="$param"),
                        [target(q, alias="$tag_param ($tag_unit)")], flow.place(12, 8),
                        legend=False)
                 .repeat("param").repeat_direction("h").max_per_row(2))
    flow.newline()
    status = select([agg("max", "status")], "reading", [STATION],
                    [by_time(), ident("param")], fill="null")
    d.with_panel(timeline(t("status.timeline", lang), [target(status, alias="$tag_param")],
                          flow.place(24, 8), status_mappings(lang)))

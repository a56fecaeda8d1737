"""The operations-room wall: twelve 46-inch screens, 4 across and 3 high, driven as one
browser window (7680 × 3240, Grafana kiosk mode). Grafana's grid is 24 columns wide, so one
screen is 6 columns; 28 rows of 30 px (+ 8 px gaps) fill a 1080-pixel screen. Every panel
covers whole screens, and its description says which:

     1 ─ 2: station map        3: VN_AQI tiles,    4: open alerts, VN_WQI tiles
                               forecast VN_AQI tiles (next 24 h, labelled a forecast)
     5: hourly VN_AQI         6: hourly VN_WQI    7: SO2 1 h vs QCVN   8: PM10 24 h vs QCVN
     9 ─ 10: open alerts      11: stations: last seen, completeness
                                                          12: connections (top), noise (bottom)
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from grafana import facts, frame
from grafana.builders import alerts, noise, overview
from grafana.labels import t
from grafana.panels import (
    band_thresholds,
    big,
    limit_thresholds,
    online_mappings,
    pos,
    series,
    target,
    thresholds,
    timeline,
    with_thresholds,
)
from grafana.queries import agg, by_time, col, ident, is_, one_of, select

SCREEN_W, SCREEN_H = 6, 28
COLUMNS, ROWS = 4, 3
# limits shown on screens 7 and 8 (screen, param, period, top row, rows): SO2 1 h, and the
# 24-hour particulates, PM2.5 (what decides the AQI most days) above PM10
FEATURED = ((7, "so2", "1h", 0, SCREEN_H), (8, "pm2_5", "24h", 0, SCREEN_H // 2),
            (8, "pm10", "24h", SCREEN_H // 2, SCREEN_H // 2))
EVERY_STATION: list[str] = []  # the wall has no variables: every station, always
AQI_TILES_H = 16  # screen 3: the measured VN_AQI tiles above, the forecast's below
AHEAD_H = 24
# an hour shows only a forecast issued at most this many hours before it: the latest issue
# (hourly, at :10) reaches now + 24 h at horizon 25 or 26; older issues of a stopped
# forecaster drop out instead of standing in for a forecast
FRESH_H = AHEAD_H + 2


def forecast_peak_query() -> str:
    """Per station, the highest hourly VN_AQI forecast for the next 24 h: the inner query
    takes for each hour the latest forecast made for it (`max("issued")` is a selector, so
    `value` is that point's, as in the air dashboard's fan), the outer one its maximum."""
    inner = select([agg("max", "issued", "issued"), col("value")], "forecast",
                   [is_("param", "vn_aqi"), is_("period", "1h"),
                    one_of("horizon", (str(h) for h in range(1, FRESH_H + 1)))],
                   [by_time("1h"), ident("station")], fill="none",
                   when=f"time > now() AND time <= now() + {AHEAD_H}h")
    return (f"SELECT max({ident('value')}) AS {ident('forecast')} FROM ({inner}) "
            f"GROUP BY {ident('station')}")


def forecast_tiles(lang: str, grid: dm.GridPos):
    """The forecast beside the measured tiles, told apart: its title says forecast, not a
    measurement, and its tiles are coloured text on the dark background, never filled."""
    return (big(t("fc.wall", lang), [target(forecast_peak_query(), alias="$tag_station")],
                grid, band_thresholds(facts.aqi_bands()))
            .color_mode(cm.BigValueColorMode.VALUE))


def screen(n: int, across: int = 1, top: int = 0, height: int = SCREEN_H) -> dm.GridPos:
    """Grid position of screen `n` (1-12, row by row), `across` screens wide."""
    col_, row_ = (n - 1) % COLUMNS, (n - 1) // COLUMNS
    return pos(col_ * SCREEN_W, row_ * SCREEN_H + top, across * SCREEN_W, height)


def _where(n: int, lang: str, across: int = 1) -> str:
    shown = "–".join(str(i) for i in (n, n + across - 1)) if across > 1 else str(n)
    return t("screen", lang, n=shown)


def featured(lang: str, n: int, param: str, period: str, top: int, height: int):
    air = next(g for g in facts.groups() if g.family == "air")
    limit = next((lim for lim in air.limits if (lim.param, lim.period) == (param, period)),
                 None)
    chans = facts.channels(air, param)
    several = chans not in ((), (param,))  # a station with a second probe: a line each
    q = select([col("value")], "mean",
               [one_of("param", chans) if several else is_("param", param),
                is_("period", period)],
               [ident("station"), *([ident("param")] if several else [])])
    title = t("mean", lang, param=facts.param_name(param),
              period=facts.period_name(period, lang))
    p = series(title, [target(q, alias="$tag_station $tag_param" if several else "$tag_station")],
               screen(n, top=top, height=height),
               description=_where(n, lang), legend=False)
    if limit is not None:
        with_thresholds(p, limit_thresholds(limit), cm.GraphThresholdsStyleMode.LINE_AND_AREA)
    return p


def build(lang: str) -> list[db.Dashboard]:
    d = frame.dashboard("wall", t("dash.wall", lang), lang, station_filter=False)
    every = EVERY_STATION
    d.with_panel(overview.station_map(lang, screen(1, across=2), every)
                 .description(_where(1, lang, 2) + t("map.desc", lang)))
    d.with_panel(overview.aqi_tiles(lang, screen(3, height=AQI_TILES_H), every)
                 .description(_where(3, lang)))
    d.with_panel(forecast_tiles(lang, screen(3, top=AQI_TILES_H, height=SCREEN_H - AQI_TILES_H))
                 .description(_where(3, lang) + t("fc.wall.desc", lang)))
    d.with_panel(big(t("alerts.open.count", lang),
                     [target(overview.open_alerts_count(every))], screen(4, height=6),
                     thresholds([(None, "green"), (1, "red")]), description=_where(4, lang)))
    d.with_panel(overview.wqi_tiles(lang, screen(4, top=6, height=SCREEN_H - 6), every)
                 .description(_where(4, lang)))
    d.with_panel(overview.hourly(lang, "aqi", screen(5), every).description(_where(5, lang)))
    d.with_panel(overview.hourly(lang, "wqi", screen(6), every).description(_where(6, lang)))
    for n, param, period, top, height in FEATURED:
        d.with_panel(featured(lang, n, param, period, top, height))
    d.with_panel(alerts.table_panel(t("alerts.open", lang), alerts.open_alerts(lang, every),
                                    lang, screen(9, across=2), with_time=False)
                 .description(_where(9, lang, 2)))
    d.with_panel(overview.station_table(lang, screen(11), every).description(_where(11, lang)))
    online = select([agg("last", "online")], "device", [is_("message", "status")],
                    [by_time(), ident("station")], fill="previous")
    half = SCREEN_H // 2
    d.with_panel(timeline(t("online.timeline", lang), [target(online, alias="$tag_station")],
                          screen(12, height=half), online_mappings(lang), _where(12, lang)))
    d.with_panel(noise.hourly_panel(lang, screen(12, top=half, height=SCREEN_H - half), [],
                                    "noise.wall", _where(12, lang)))
    return [d]

"""The public page as server-rendered HTML: no script, one small inline style sheet, inline
SVG for the map (station positions, no tiles) and the 72-hour charts, so it works on any
phone and without map tiles."""

from __future__ import annotations

import html
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import boards
from public import facts
from public.labels import t

WATER_COLOURS = {"within": "#1565c0", "exceeds": "#b71c1c", "no_data": "#616161"}
NO_DATA = "#9e9e9e"

CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,sans-serif;color:#111;
background:#fff}header,main,footer{max-width:72rem;margin:0 auto;padding:.75rem}
header{display:flex;flex-wrap:wrap;gap:.5rem;justify-content:space-between;align-items:center}
h1{font-size:1.35rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.2rem 0 .4rem}
a{color:#0b57d0}.lang{font-weight:600;padding:.4rem .7rem;border:1px solid #0b57d0;
border-radius:.4rem;text-decoration:none}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,20rem),1fr))}
svg{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .4rem;
border-bottom:1px solid #ddd;vertical-align:top;overflow-wrap:break-word}
.badge{display:inline-block;padding:.1rem .45rem;border-radius:.3rem;font-weight:600}
.stale{background:#fff3cd;color:#5c3c00;border:1px dashed #5c3c00}
.prelim{font-size:.85rem;color:#5c3c00}.big{font-size:2.4rem;font-weight:700;
padding:.2rem .8rem;border-radius:.5rem;display:inline-block}
.legend{display:flex;flex-wrap:wrap;gap:.3rem;padding:0;list-style:none}
.legend li{padding:.15rem .5rem;border-radius:.3rem;font-size:.9rem}
.dominant{font-weight:700}.muted{color:#555}
@media (min-width:1800px){html{font-size:20px}body{font-size:20px}header,main,footer{max-width:
96rem}}
"""


def text_on(colour: str) -> str:
    """Black or white, whichever reads better on the colour (WCAG contrast)."""
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    return "#000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#fff"


def esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _doc(lang: str, title: str, path: str, body: str) -> str:
    other = "en" if lang == "vi" else "vi"
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f'<header><h1>{esc(title)}</h1><a class="lang" hreflang="{other}" lang="{other}" '
            f'href="{esc(path)}?lang={other}">'
            f"{esc(t('switch', lang))}</a></header><main>{body}</main>"
            f'<footer class="muted"><h2>{esc(t("open_data", lang))}</h2>'
            f'<a href="/api/v1/openapi.json">{esc(t("api", lang))}</a> · '
            f'<a href="/sta/v1.1">{esc(t("sta", lang))}</a></footer></body></html>')


def _local(ts: int | None, tz: ZoneInfo) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, tz).strftime("%d/%m %H:%M")


def _age(doc: dict, lang: str) -> str:
    if doc.get("last_seen") is None:
        return esc(t("no_data", lang))
    mins = doc["age_s"] // 60
    text = t("minutes_ago", lang, n=mins) if mins < 120 else t("hours_ago", lang, n=mins // 60)
    stale = (f' <span class="badge stale" data-stale="1">{esc(t("stale", lang))}</span>'
             if doc["stale"] else "")
    return esc(text) + stale


def station_colour(station: boards.Station, doc: dict) -> tuple[str, str]:
    """(colour, label key or band key) of the station's marker."""
    if facts.is_air(station):
        a = doc.get("aqi")
        b = facts.band(a["band"]) if a else None
        return (b.colour, b.key) if b else (NO_DATA, "no_data")
    status = doc.get("water", {}).get("status", "no_data")
    return WATER_COLOURS[status], status


def _band_label(key: str, lang: str) -> str:
    b = facts.band(key)
    return getattr(b, lang) if b else t(key, lang)


def _legend(lang: str) -> str:
    items = "".join(f'<li style="background:{b.colour};color:{text_on(b.colour)}">'
                    f"{b.lower}–{b.upper} {esc(getattr(b, lang))}</li>"
                    for b in facts.aqi_bands())
    water = "".join(f'<li style="background:{c};color:{text_on(c)}">{esc(t(k, lang))}</li>'
                    for k, c in WATER_COLOURS.items())
    return (f'<h2>{esc(t("legend", lang))}</h2><ul class="legend">{items}</ul>'
            f'<h2>{esc(t("water", lang))}</h2><ul class="legend">{water}</ul>')


def _map(latest: dict[str, dict], lang: str) -> str:
    stations = facts.network().stations
    lats = [s.lat for s in stations]
    lons = [s.lon for s in stations]
    pad = 0.02
    lo_lat, hi_lat, lo_lon, hi_lon = min(lats) - pad, max(lats) + pad, min(lons) - pad, \
        max(lons) + pad
    w = 400
    h = int(w * (hi_lat - lo_lat) / (hi_lon - lo_lon)) or 400
    marks = []
    for s in stations:
        x = (s.lon - lo_lon) / (hi_lon - lo_lon) * w
        y = (hi_lat - s.lat) / (hi_lat - lo_lat) * h
        colour, _ = station_colour(s, latest[s.id])
        dash = ' stroke-dasharray="3 2"' if latest[s.id]["stale"] else ""
        if facts.is_air(s):
            shape = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{colour}" stroke="#000"'
                     f'{dash}/>')
        else:
            shape = (f'<rect x="{x - 8:.1f}" y="{y - 8:.1f}" width="16" height="16" '
                     f'fill="{colour}" stroke="#000"{dash}/>')
        marks.append(f'<g class="marker" data-station="{s.id}" data-colour="{colour}">'
                     f"{shape}</g>")
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{esc(t("map_label", lang))}" style="background:#dbeef7">'
            + "".join(marks) + "</svg>")


def _row(s: boards.Station, doc: dict, lang: str, tz: ZoneInfo) -> str:
    colour, key = station_colour(s, doc)
    if facts.is_air(s):
        a = doc.get("aqi")
        shown = f"{a['value']} · {_band_label(key, lang)}" if a else t("no_data", lang)
    else:
        shown = t(key, lang)
    return (f'<tr data-station="{s.id}"><td><a href="/station/{s.id}?lang={lang}">'
            f"{esc(s.name)}</a><br><span class=\"muted\">{s.id} · {esc(t(_kind(s), lang))}"
            f'</span></td><td><span class="badge" data-colour="{colour}" '
            f'style="background:{colour};color:{text_on(colour)}">{esc(shown)}</span></td>'
            f"<td>{_age(doc, lang)}</td></tr>")


def _kind(s: boards.Station) -> str:
    return "air_kind" if facts.is_air(s) else s.kind


def index(latest: dict[str, dict], lang: str) -> str:
    tz = ZoneInfo(facts.network().timezone)
    air = [s for s in facts.network().stations if facts.is_air(s)]
    water = [s for s in facts.network().stations if not facts.is_air(s)]

    def table(title: str, group: list[boards.Station], col: str) -> str:
        rows = "".join(_row(s, latest[s.id], lang, tz) for s in group)
        return (f"<section><h2>{esc(title)}</h2><table><thead><tr><th scope=\"col\">"
                f"{esc(t('station', lang))}</th><th scope=\"col\">{esc(col)}</th>"
                f"<th scope=\"col\">{esc(t('updated', lang))}</th></tr></thead>"
                f"<tbody>{rows}</tbody></table></section>")

    body = (f"<p>{esc(t('intro', lang))}</p><div class=\"grid\"><section>"
            f"<h2>{esc(t('map', lang))}</h2>{_map(latest, lang)}</section><section>"
            f"{_legend(lang)}</section></div>"
            + table(t("air", lang), air, t("aqi", lang))
            + table(t("water", lang), water, t("status", lang)))
    return _doc(lang, t("title", lang), "/", body)


def chart(points: list[dict], label: str, lang: str, colour_of=None) -> str:
    """A 72-hour line as inline SVG (no script); nothing when there are no points."""
    if not points:
        return f"<p>{esc(t('no_data', lang))}</p>"
    w, h, m = 600, 160, 28
    now = time.time()
    t0 = now - 72 * 3600
    vals = [p["value"] for p in points]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    xy = [((p["time"] - t0) / (72 * 3600) * (w - m) + m,
           h - m - (p["value"] - lo) / span * (h - 2 * m)) for p in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = ""
    if colour_of:
        dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour_of(p)}"/>'
                       for (x, y), p in zip(xy, points, strict=True))
    aria = t("chart_label", lang, p=label, lo=f"{lo:g}", hi=f"{hi:g}")
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{esc(aria)}"><rect width="{w}" height="{h}" fill="#fafafa"/>'
            f'<text x="2" y="{m - 8}" font-size="12">{hi:g}</text>'
            f'<text x="2" y="{h - m + 4}" font-size="12">{lo:g}</text>'
            f'<polyline fill="none" stroke="#333" stroke-width="1.5" points="{line}"/>'
            f"{dots}</svg>")


def station(s: boards.Station, doc: dict, history: dict[str, list[dict]],
            forecast: dict, lang: str) -> str:
    tz = ZoneInfo(facts.network().timezone)
    colour, key = station_colour(s, doc)
    parts = [f'<p><a href="/?lang={lang}">← {esc(t("back", lang))}</a></p>',
             f"<h2>{esc(s.name)}</h2>",
             f"<p>{esc(t('location', lang))}: {esc(s.id)} · {esc(t(_kind(s), lang))} · "
             f"{esc(t('coordinates', lang))} {s.lat:.4f}° N, {s.lon:.4f}° E</p>",
             f"<p>{esc(t('updated', lang))}: {_age(doc, lang)}</p>"]
    if facts.is_air(s):
        parts.append(_air(doc, colour, key, lang, tz))
    else:
        parts.append(_water(s, doc, colour, key, lang))
    parts.append(_values(doc, lang, tz))
    parts.append(f"<section><h2>{esc(t('last72', lang))}</h2>")
    for param, pts in history.items():
        colour_of = None
        if param == "aqi":
            def colour_of(p: dict) -> str:
                b = facts.band(p.get("band") or "")
                return b.colour if b else NO_DATA
        parts.append(f"<h3>{esc(facts.param_name(param))}</h3>"
                     + chart(pts, facts.param_name(param), lang, colour_of))
    parts.append("</section>")
    parts.append(_forecast(forecast, lang, tz))
    net = facts.network()
    source = t("source_text", lang, station=f"{s.name} ({s.id})", network=net.title)
    method = (t("method_text", lang) if facts.is_air(s)
              else t("water_method", lang, regulation=s.regulation))
    parts.append(f'<section id="source"><h2>{esc(t("source", lang))}</h2><p>{esc(source)}</p>'
                 f"<p>{esc(method)}</p></section>")
    return _doc(lang, f"{s.name} · {t('title', lang)}", f"/station/{s.id}", "".join(parts))


def _forecast(fc: dict, lang: str, tz: ZoneInfo) -> str:
    """The latest forecast issue's VN_AQI (store.forecast), set apart from the measured values
    and labelled a forecast in its heading, its note and every table's caption."""
    n = len(fc.get("hourly", ())) + len(fc.get("daily", ()))
    head = (f'<section id="forecast" class="forecast" data-forecast="{n}" data-kind="forecast">'
            f"<h2>{esc(t('next72', lang))}</h2>")
    if not n:
        return head + f"<p class=\"muted\">{esc(t('no_forecast', lang))}</p></section>"
    note = t("forecast_note", lang, issued=_local(fc["issued"], tz),
             model=t("model_" + fc["model"], lang) if fc.get("model") in ("gbm", "persistence")
             else fc.get("model", ""))
    return (head + f'<p class="forecast-note">{esc(note)}</p>'
            + _forecast_table(fc.get("daily", []), t("forecast_daily", lang), lang, tz)
            + _forecast_table(fc.get("hourly", []), t("forecast_hourly", lang), lang, tz)
            + "</section>")


def _forecast_table(pts: list[dict], caption: str, lang: str, tz: ZoneInfo) -> str:
    if not pts:
        return ""
    def band(p: dict) -> str:
        return f"{p['lo']}–{p['hi']}" if "lo" in p and "hi" in p else "—"
    rows = "".join(f"<tr><td>{_local(p['time'], tz)}</td><td>{p['value']}</td>"
                   f"<td>{band(p)}</td></tr>" for p in pts)
    return (f"<table><caption>{esc(caption)}</caption><thead><tr>"
            f"<th scope=\"col\">{esc(t('time', lang))}</th>"
            f"<th scope=\"col\">{esc(t('forecast_value', lang))}</th>"
            f"<th scope=\"col\">{esc(t('forecast_band', lang))}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _air(doc: dict, colour: str, key: str, lang: str, tz: ZoneInfo) -> str:
    a = doc.get("aqi")
    if not a:
        return f"<p>{esc(t('no_data', lang))}</p>"
    prelim = (f' <span class="prelim" data-preliminary="1">{esc(t("preliminary", lang))}'
              "</span>" if a["preliminary"] else "")
    info = facts.advice(key)
    subs = "".join(
        f'<tr{" class=dominant" if p == a["dominant"] else ""} data-param="{p}"><td>'
        f"{esc(facts.param_name(p))}"
        + (f' <span class="badge" data-dominant="1">★ {esc(t("dominant", lang))}</span>'
           if p == a["dominant"] else "")
        + f"</td><td>{v}</td></tr>"
        for p, v in sorted(a["sub"].items(), key=lambda kv: -kv[1]))
    return (f'<section id="aqi" data-band="{key}" data-aqi="{a["value"]}"><h2>'
            f"{esc(t('aqi', lang))}</h2><p><span class=\"big\" data-colour=\"{colour}\" "
            f'style="background:{colour};color:{text_on(colour)}">{a["value"]}</span> '
            f"<strong>{esc(_band_label(key, lang))}</strong> · {_local(a['time'], tz)}{prelim}"
            f'</p><h3>{esc(t("health", lang))}</h3><p id="health">'
            f"{esc(info['health'][lang] or '')}</p>"
            f'<h3>{esc(t("general", lang))}</h3><p id="general">'
            f"{esc(info['general'][lang] or '')}</p>"
            f'<h3>{esc(t("sensitive", lang))}</h3><p id="sensitive">'
            f"{esc(info['sensitive'][lang] or '')}</p>"
            f'<h3>{esc(t("sub", lang))}</h3><table><thead><tr><th scope="col">'
            f"{esc(t('parameter', lang))}</th><th scope=\"col\">{esc(t('index', lang))}</th>"
            f"</tr></thead><tbody>{subs}</tbody></table></section>")


def _water(s: boards.Station, doc: dict, colour: str, key: str, lang: str) -> str:
    w = doc.get("water", {})
    over = ", ".join(facts.param_name(p) for p in w.get("exceeded", []))
    sources = sorted({lim.basis_text(lang) for lim in facts.hourly_limits(s.id)})
    basis = (f'<p id="basis">{esc(t("limits_from", lang))}: {esc("; ".join(sources))}</p>'
             if sources else "")
    return (f'<section id="water" data-status="{key}"><h2>{esc(t("status", lang))}</h2>'
            f'<p><span class="big" data-colour="{colour}" style="background:{colour};'
            f'color:{text_on(colour)}">{esc(t(key, lang))}</span> {esc(s.regulation)}'
            f"{' ' + esc(s.column) if s.column else ''}{(' · ' + esc(over)) if over else ''}"
            f"</p>{basis}</section>")


def _limit_text(lim: facts.Limit) -> str:
    unit = facts.unit_name(lim.unit)
    if lim.above is not None and lim.below is not None:
        return f"{lim.below:g}–{lim.above:g} {unit}"
    if lim.above is not None:
        return f"≤ {lim.above:g} {unit}"
    return f"≥ {lim.below:g} {unit}"


def _values(doc: dict, lang: str, tz: ZoneInfo) -> str:
    limits = {lim.param: lim for lim in facts.hourly_limits(doc["station"])} \
        if not facts.is_air(facts.network().get(doc["station"])) else {}
    over = set(doc.get("water", {}).get("exceeded", []))
    rows = []
    for p, v in sorted(doc["values"].items()):
        lim = limits.get(p)
        limit = "" if lim is None else _limit_text(lim)
        mark = (f' <strong data-exceeds="1">{esc(t("exceeds", lang))}</strong>'
                if p in over else "")
        prelim = (f' <span class="prelim" data-preliminary="1">{esc(t("preliminary", lang))}'
                  "</span>" if v["preliminary"] else "")
        # the limit under the value, not a column of its own: four columns overflow 360 px
        below = (f'<br><span class="muted">{esc(t("limit", lang))}: {esc(limit)}</span>'
                 if limit else "")
        rows.append(f"<tr><td>{esc(facts.param_name(p))}</td><td>{v['value']:g} "
                    f"{esc(facts.unit_name(v['unit']))}{mark}{below}</td>"
                    f"<td>{_local(v['time'], tz)}{prelim}</td></tr>")
    if not rows:
        return ""
    return (f"<section><h2>{esc(t('latest', lang))}</h2><table><thead><tr>"
            f"<th scope=\"col\">{esc(t('parameter', lang))}</th><th scope=\"col\">"
            f"{esc(t('value', lang))}</th><th scope=\"col\">"
            f"{esc(t('time', lang))}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "</section>")


def not_found(lang: str, what: str) -> str:
    return _doc(lang, t("not_found", lang), "/", f"<p>{esc(t('not_found', lang))}: "
                f"{esc(what)}</p>")


def unavailable(lang: str) -> str:
    return _doc(lang, t("title", lang), "/", f"<p>{esc(t('unavailable', lang))}</p>")

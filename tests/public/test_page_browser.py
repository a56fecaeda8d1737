"""The real page in Debian's headless chromium (Playwright, never a downloaded browser) against
the real stack: colours of the stored AQI, health text by band, no label of the other
language, stale shown, 360 px without horizontal scroll, axe-core with no serious or critical
violation; phone and wide screenshots kept under tests/artifacts/public/ (git-ignored)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from public_site import AIR, STALE, get

from public import facts
from public.labels import WORDS
from public.page import NO_DATA, WATER_COLOURS
from quantrac_common import influxql

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "public"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="Debian's chromium is not installed (scripts/setup)")]


def _rgb(colour: str) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def _stored_bands(env: dict[str, str]) -> dict[str, str]:
    """Each station's latest hourly VN_AQI band as InfluxDB holds it (not through the page's
    own code)."""
    rows = influxql.rows(influxql.query(env, "SELECT last(\"band\") AS band FROM "
                                        "\"derived\".\"aqi\" WHERE \"period\" = 'hour' "
                                        "AND time > now() - 3d GROUP BY \"station\""))
    return {r["station"]: r["band"] for r in rows}


def test_every_station_has_the_colour_of_its_stored_aqi_and_stale_shows(server, browser,
                                                                         public_data):
    env, _ = public_data
    stored = _stored_bands(env)
    assert set(AIR) <= set(stored)
    assert len({stored[s] for s in AIR}) >= 2  # different bands: colours are told apart
    latest = {d["station"]: d for d in json.loads(get(server.url + "/api/v1/latest")[2])}
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url + "/")
    for sid in facts.network().ids():
        marker = page.locator(f'g.marker[data-station="{sid}"] > *')
        badge = page.locator(f'tr[data-station="{sid}"] .badge[data-colour]')
        assert marker.count() == 1 and badge.count() == 1, sid  # every station appears
        if sid in stored:
            want = next(b.colour for b in facts.aqi_bands() if b.key == stored[sid])
        elif sid in AIR or facts.is_air(facts.network().get(sid)):
            want = NO_DATA
        else:
            want = WATER_COLOURS[latest[sid]["water"]["status"]]
        assert marker.get_attribute("fill") == want, sid
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == _rgb(want), sid
    assert latest["pq-ww-02"]["water"]["status"] == "exceeds"
    assert latest["pq-tap-01"]["water"]["status"] == "within"
    stale_row = page.locator(f'tr[data-station="{STALE}"]')
    assert stale_row.locator("[data-stale]").inner_text() == WORDS["stale"]["vi"]
    assert page.locator(f'g.marker[data-station="{STALE}"] > *').get_attribute(
        "stroke-dasharray")
    for sid in AIR:
        if sid != STALE:
            row = page.locator(f'tr[data-station="{sid}"]')
            assert row.locator("[data-stale]").count() == 0, sid
    page.goto(f"{server.url}/station/{STALE}?lang=en")
    assert page.locator("[data-stale]").inner_text() == WORDS["stale"]["en"]
    page.close()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_health_text_follows_the_band(server, browser, lang):
    latest = {d["station"]: d for d in json.loads(get(server.url + "/api/v1/latest")[2])}
    page = browser.new_page()
    for sid in AIR:
        page.goto(f"{server.url}/station/{sid}?lang={lang}")
        band = latest[sid]["aqi"]["band"]
        info = facts.advice(band)
        assert page.locator("#aqi").get_attribute("data-band") == band
        assert page.locator("#health").inner_text() == info["health"][lang]
        assert page.locator("#general").inner_text() == info["general"][lang]
        assert page.locator("#sensitive").inner_text() == info["sensitive"][lang]
        dominant = page.locator("[data-dominant]")
        assert dominant.count() == 1
        assert latest[sid]["aqi"]["dominant"] in dominant.locator("xpath=../..").get_attribute(
            "data-param")
    page.close()


@pytest.mark.parametrize("lang,other", [("en", "vi"), ("vi", "en")])
def test_no_label_of_the_other_language_is_left(server, browser, lang, other):
    page = browser.new_page()
    labels = {w[other] for w in WORDS.values() if w[other] != w[lang] and "{" not in w[other]}
    labels |= {getattr(b, other) for b in facts.aqi_bands() if getattr(b, other) != getattr(
        b, lang)}
    # the switch to the other language is meant to be in that language: left out of the text
    switch = {WORDS["switch"][lang]}
    for path in ("/", "/station/pq-air-02", "/station/pq-ww-02", f"/station/{STALE}"):
        page.goto(f"{server.url}{path}?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        text = page.locator("body").inner_text().replace(WORDS["switch"][lang], "")
        left = sorted(w for w in labels - switch if w in text)
        assert not left, (path, left)
    page.close()


def test_one_tap_to_english(server, browser):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.locator("a.lang").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.close()


def test_phone_width_no_horizontal_scroll_axe_and_screenshots(server, browser):
    from axe_playwright_python.sync_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    axe = Axe()
    for name, width, height in (("phone", 360, 780), ("wide", 1920, 1080)):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        page = ctx.new_page()
        for path in ("/", "/station/pq-air-03", "/station/pq-ww-02"):
            for lang in ("vi", "en"):
                page.goto(f"{server.url}{path}?lang={lang}")
                if width == 360:
                    sw = page.evaluate("document.documentElement.scrollWidth")
                    assert sw <= 360, (path, lang, sw)
                results = axe.run(page)
                bad = [v for v in results.response["violations"]
                       if v.get("impact") in ("serious", "critical")]
                assert not bad, (path, lang, [(v["id"], v["nodes"][0]["target"]) for v in bad])
            slug = path.strip("/").replace("/", "-") or "index"
            page.screenshot(path=str(ARTIFACTS / f"{name}-{slug}.png"), full_page=True)
        ctx.close()
    assert (ARTIFACTS / "phone-index.png").stat().st_size > 0


def test_page_weight_under_250_kb(server):
    total = 0
    for path in ("/", "/station/pq-air-03"):
        code, _, body = get(server.url + path)
        assert code == 200
        total = max(total, len(body))
    assert total < 250 * 1024, total  # HTML with its inline CSS and SVG; no script, no tiles

"""The station page's "next 72 hours" slot: nothing until the forecaster has written a
forecast, then the latest issue's hourly and daily VN_AQI with its 10–90 % band, labelled a
forecast, read from `"derived"."forecast"` as forecast/forecaster.py writes it (the real
forecaster, run on the pipeline's data in this package's database)."""

from __future__ import annotations

import re
import time

from public_site import get

from forecast.forecaster import Forecaster
from forecast.service import run_pass
from forecast.warning import Warnings, load_rules
from public import allowlist
from public.serve import Background

STATION = "pq-air-02"  # PM2.5 for a day (public_site.AIR)


def _page(env: dict, run_dir) -> bytes:
    srv = Background(env, run_dir).start()
    try:
        return get(srv.url + f"/station/{STATION}?lang=en")[2]
    finally:
        srv.stop()


def test_the_forecast_slot_shows_the_forecasters_latest_issue_as_a_forecast(public_data,
                                                                            tmp_path):
    env, run_dir = public_data
    body = _page(env, run_dir)
    assert b'id="forecast" class="forecast" data-forecast="0"' in body
    assert b"No forecast yet." in body

    now = int(time.time())
    res = run_pass(env, [STATION], Forecaster(), Warnings(load_rules(), tmp_path / "w.json"),
                   now)
    assert res.errors == {} and STATION in res.forecasts, res.errors
    fc = res.forecasts[STATION]
    hourly = [(t, a, lo, hi) for t, a, lo, hi in fc.aqi_hourly if a is not None]
    assert len(hourly) == 72 and all(lo is not None and hi is not None for _, _, lo, hi in hourly)

    body = _page(env, run_dir).decode()
    slot = body[body.index('<section id="forecast"'):]
    slot = slot[:slot.index("</section>")]
    # every future hour of the issue (the page drops the ones already past) and its days
    n = int(re.search(r'data-forecast="(\d+)"', slot).group(1))
    assert n >= 70 and "No forecast yet." not in slot
    assert "A forecast, not a measurement" in slot and "Forecast hourly VN_AQI" in slot
    assert "10–90 % range" in slot
    table = slot[slot.index("Forecast hourly VN_AQI"):]
    cells = re.findall(r"<tr><td>[^<]*</td><td>(\d+)</td><td>(\d+)–(\d+)</td></tr>", table)
    # the forecaster's own numbers, central value and band, for the hours still ahead
    want = [(str(a), str(lo), str(hi)) for t, a, lo, hi in hourly if t > time.time()]
    assert len(cells) >= 70 and cells == want[:len(cells)]
    if fc.aqi_daily:
        assert "Forecast daily VN_AQI" in slot


def test_only_the_forecasts_public_fields_pass_the_allowlist():
    allowlist.check("forecast", ("value", "lo", "hi", "issued"))
    row = allowlist.keep("forecast", {"time": 1, "value": 3.0, "lo": 1.0, "hi": 5.0,
                                      "issued": 0, "station": "s", "period": "1h",
                                      "horizon": "3", "model": "gbm", "secret": "x"})
    assert set(row) == {"time", "value", "lo", "hi", "issued", "station", "period", "model"}

"""The station page's "next 72 hours" slot for issue 20's forecast: nothing until a `forecast`
measurement exists, its values once one does."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request

from public_site import get

from public.serve import Background


def _write(env: dict[str, str], lines: str) -> None:
    q = urllib.parse.urlencode({"db": env["QUANTRAC_INFLUX_DB"], "precision": "s",
                                "u": env["QUANTRAC_INFLUX_WRITE_USER"],
                                "p": env["QUANTRAC_INFLUX_WRITE_PASSWORD"]})
    req = urllib.request.Request(f"{env['QUANTRAC_INFLUX_URL'].rstrip('/')}/write?{q}",
                                 data=lines.encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204


def test_the_forecast_slot_is_empty_until_a_forecast_exists(public_data):
    env, run_dir = public_data
    srv = Background(env, run_dir).start()
    try:
        _, _, body = get(srv.url + "/station/pq-air-05?lang=en")
    finally:
        srv.stop()
    assert b'id="forecast" data-forecast="0"' in body and b"No forecast yet." in body
    now = int(time.time()) // 3600 * 3600
    _write(env, "\n".join(f"forecast,station=pq-air-05 aqi={40 + h}i {now + h * 3600}"
                          for h in range(1, 4)))
    srv = Background(env, run_dir).start()
    try:
        _, _, body = get(srv.url + "/station/pq-air-05?lang=en")
    finally:
        srv.stop()
    assert b'id="forecast" data-forecast="3"' in body and b"No forecast yet." not in body
    assert b"<td>41</td>" in body and b"<td>43</td>" in body

"""A water station's page: its status against its regulation, the parameter over its limit
marked, each limit shown, and where a limit comes from when it is a superseded regulation's
value applied until the new text is found (read from the alert rules)."""

from __future__ import annotations

import html

from public_site import get

from public import facts


def test_water_page_shows_status_limits_and_their_basis(server):
    code, _, body = get(server.url + "/station/pq-ww-02?lang=en")
    text = html.unescape(body.decode())
    assert code == 200 and 'data-status="exceeds"' in text
    # NH4 above QCVN 14 column B (10 mg/L, the 2008 value until the 2025 text is found)
    nh4_row = text[text.index("<td>NH4+</td>"):].split("</tr>", 1)[0]
    assert 'data-exceeds="1"' in nh4_row and "Limit: ≤ 10 mg/L" in nh4_row
    ph_row = text[text.index("<td>pH</td>"):].split("</tr>", 1)[0]
    assert 'data-exceeds' not in ph_row and "Limit: 5–9 pH" in ph_row
    basis = {lim.basis_text("en") for lim in facts.hourly_limits("pq-ww-02")}
    assert basis and any(b in text for b in basis)
    assert "pending the QCVN 14:2025/BTNMT text" in text
    code, _, body = get(server.url + "/station/pq-tap-01")
    assert code == 200 and 'data-status="within"' in body.decode()

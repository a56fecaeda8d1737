"""The water parameters the regulations need reach the Circular 10/2021 data files: Decree
40/2019's automatic wastewater list has flow and COD, so a file without them is incomplete."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from collector.contracts import Reading
from collector.egov import datafile

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T = 1772420700  # 2026-03-02 10:05:00 local


def test_cod_flow_turbidity_chlorine_conductivity_and_salinity_have_lines():
    naming = datafile.Naming("AnGiang", "PhuQuoc", TZ)
    rs = [Reading("pq-ww-01", "wastewater", "flow", "m3/h", T, 86.456, 0),
          Reading("pq-ww-01", "wastewater", "cod", "mg/L", T, 52.75, 0),
          Reading("pq-tap-01", "tap_water", "turbidity", "NTU", T, 0.843, 0),
          Reading("pq-tap-01", "tap_water", "chlorine", "mg/L", T, 0.47, 0),
          Reading("pq-sea-01", "sea_water", "conductivity", "mS/cm", T, 50.125, 0),
          Reading("pq-sea-01", "sea_water", "salinity", "PSU", T, 32.85, 1)]
    files = {k.split("/")[0]: text for k, _p, text in
             datafile.cycle_files(rs, naming, datafile.load_symbols())}
    assert files["pq-ww-01"] == ("COD\t52.8\tmg/L\t20260302100500\t00\n"
                                 "Flow\t86.46\tm3/h\t20260302100500\t00\n")
    assert files["pq-tap-01"] == ("Turbidity\t0.84\tNTU\t20260302100500\t00\n"
                                  "Clo\t0.47\tmg/L\t20260302100500\t00\n")
    assert files["pq-sea-01"] == ("EC\t50.12\tmS/cm\t20260302100500\t00\n"
                                  "Salinity\t32.85\tPSU\t20260302100500\t01\n")

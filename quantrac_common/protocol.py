"""The protocol-v1 names the firmware spells too (docs/protocol.md): topics, commands and the
keys a station lets an operator set. The MicroPython side cannot import this module, so
tests/suite/test_shared_values.py reads the firmware's source and keeps the two equal.
"""

from __future__ import annotations

PREFIX = "quantrac/v1"  # every topic is PREFIX/<station>/<leaf>, alerts PREFIX/alerts/<station>
STATION_WRITES = ("data", "status", "event")  # leaves a station publishes
STATION_READS = ("cmd", "config")  # leaves a station subscribes to (from the operator)
# Firmware updates (station/ota.py): the retained wanted version a station subscribes to, and
# under it the update's chunks, quantrac/v1/<station>/fw/<index>, one at a time. Only the
# operator publishes them.
UPDATE = "fw"
UPDATE_CHUNKS = "fw/+"
CMDS = ("ping", "reboot", "cal_start", "cal_stop", "report_interval", "backlog")
# The leaf the operator publishes alert answers to (acknowledge, silence) and the collector
# reads: quantrac/v1/<station>/answer. No station may publish it (collector/services/mosquitto).
ANSWER = "answer"
SETTABLE = ("sample_s", "report_s", "cal", "health_s", "log")  # `config` {"set": {key: …}}

# Encodes records from samples chosen by CPython and wraps them in one data message.
# argv[1]: JSON {"station", "fw", "boot", "seq", "minmax", "records": [{"t", "p", "expected",
#   "channels": [{"param", "unit", "places", "range", "samples" (null = a missed poll),
#                 "offline"}]}]}
# Each record goes window -> binary slot -> a real Backlog on files (argv[2]: its folder) ->
# JSON, exactly as the station does; prints the message (one line).

import json
import sys

from station.backlog_open import open_backlog
from station.assemble import columns, layout_header
from station.message import Messages
from station.record import Layout, close_into, n_bits, seal
from values.decode import Channel
from values.window import Windows


class Device:
    def __init__(self, id, channels, online):
        self.id = id
        self.channels = channels
        self.online = online


with open(sys.argv[1]) as f:
    case = json.load(f)
backlog = None
for rec in case["records"]:
    devices = []
    for i, c in enumerate(rec["channels"]):
        ch = Channel({"param": c["param"], "unit": c["unit"], "type": "int16",
                      "range": c["range"]}, 0)
        ch.places = c["places"]
        devices.append(Device(f"d{i}", [ch], not c["offline"]))
    cols = columns(devices)
    layout = Layout(layout_header(cols, case["minmax"], rec["p"], n_bits(rec["expected"])))
    win = Windows([c.rng for c in cols], True)
    for dev in devices:
        ch = dev.channels[0]
        for x in rec["channels"][devices.index(dev)]["samples"]:
            if x is not None and ch.k >= 0:
                win.add(ch.k, x)
    slot = bytearray(layout.size)
    close_into(slot, layout, win, cols, rec["expected"], [0 if c.dev.online else 1 for c in cols])
    seal(slot, rec["t"])
    if backlog is None or backlog.cur.header != layout.header:
        if backlog is not None:
            backlog.close()
        backlog = open_backlog(sys.argv[2], layout, 65536, 4)
    backlog.append(slot)
msgs = Messages(case["station"], case["fw"], case["boot"], 4096)
payload, count = msgs.build(case["seq"], backlog, len(backlog))
print(bytes(payload).decode())

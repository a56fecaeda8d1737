# Encodes records from samples chosen by CPython and wraps them in one data message.
# argv[1]: JSON {"station", "fw", "boot", "seq", "records": [{"t", "p", "expected",
#   "channels": [{"param", "unit", "places", "range", "samples" (null = a missed poll),
#                 "offline"}]}]}
# Prints the message (one line), exactly as the publisher would send it.

import json
import sys

from station.queue import RamQueue
from station.record import Messages, Writer, encode_record, entries, record_bytes
from values.decode import Channel
from values.window import OFFLINE, Window


class Device:
    def __init__(self, id, channels, online):
        self.id = id
        self.channels = channels
        self.online = online


with open(sys.argv[1]) as f:
    case = json.load(f)
q = RamQueue(len(case["records"]), 4096)
for rec in case["records"]:
    devices = []
    for i, c in enumerate(rec["channels"]):
        ch = Channel({"param": c["param"], "unit": c["unit"], "type": "int16",
                      "range": c["range"]}, 0, Window(c["range"][0], c["range"][1]))
        ch.places = c["places"]
        for x in c["samples"]:
            if x is None:
                ch.window.miss()
            else:
                ch.window.add(x)
        devices.append(Device(f"d{i}", [ch], not c["offline"]))
    ents = entries(devices)
    for e in ents:
        e.ch.window.close(rec["expected"])
        if not e.device.online:
            e.ch.window.flags |= OFFLINE
    w = Writer(record_bytes(ents))
    encode_record(w, rec["t"], rec["p"], ents)
    q.append(w.mv[:w.n])
msgs = Messages(case["station"], case["fw"], case["boot"], 4096 * len(case["records"]))
payload, count = msgs.build(case["seq"], q, len(q))
print(bytes(payload).decode())

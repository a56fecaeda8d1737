# A station updated in the field: its backlog folder (argv[1]) holds segments the old firmware
# wrote (format 1; tests/firmware/test_fw_backlog.py writes them byte by byte as that format
# is documented). Open it with the new firmware's layout, store two new records, then drain
# everything as the publisher does (argv[2]: records per message), with a reboot after the
# first message. Prints each message and a last JSON line with the counters.

import json
import sys

from layouts import layout
from station.backlog_open import open_backlog
from station.message import Messages
from station.record import close_into, seal
from values.window import Windows

T0 = 1763755200
SPECS = [(0, 2000, -1, False), (-40, 80, 1, False)]
LAYOUT = layout(["so2", "temp"], ["ppb", "degC"], False, SPECS, 300, 6)
folder, batch = sys.argv[1], int(sys.argv[2])


class Col:
    places = 1


bl = open_backlog(folder, LAYOUT, 8192, 4)
found = (len(bl), bl.dropped, bl.torn)
win = Windows([(s[0], s[1]) for s in SPECS], True)
cols = [Col(), Col()]
cols[0].places = -1
for i in range(2):
    win.reset()
    for _ in range(30):
        win.add(0, 12.5 + i)
        win.add(1, 21.25)
    slot = bytearray(LAYOUT.size)
    close_into(slot, LAYOUT, win, cols, 30, bytearray(2))
    seal(slot, T0 + 300 * (100 + i))
    bl.append(slot, LAYOUT)
msgs = Messages("pq-air-01", "0.2.0", "0badc0de", 2048)
seq = 0
rebooted = False
while len(bl):
    payload, count = msgs.build(seq, bl, batch)
    if payload is not None:
        print(bytes(payload).decode())
    bl.commit(count)
    seq += 1
    if not rebooted:  # power off after the first message was acknowledged
        rebooted = True
        bl.close()
        bl = open_backlog(folder, LAYOUT, 8192, 4)
print(json.dumps({"found": found, "left": len(bl), "corrupt": msgs.corrupt}))
bl.close()

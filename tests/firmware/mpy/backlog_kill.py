# The backlog under hard kills. argv: folder, mode.
#   append: open the backlog (recovering whatever a kill left), then append records numbered
#           on from the newest one at full speed, committing 5 of every 10; prints "A <n>" after
#           each append returned and "C <k>" after each commit returned. Runs until killed.
#   check:  open the backlog and print one JSON line: every pending record's number (null for
#           a record that fails its CRC), the dropped and torn counters.
# A record's number n is stored as its time T0 + n.

import json
import sys

from station.backlog_open import open_backlog
from layouts import layout, slot_t
from station.record import seal, slot_ok

T0 = 1763755200
LAYOUT = layout(["so2"], ["ppb"])
folder, mode = sys.argv[1], sys.argv[2]
bl = open_backlog(folder, LAYOUT, 4096, 4)
if mode == "check":
    nums = []
    for i in range(len(bl)):
        s = bl.peek(i)
        nums.append(slot_t(s) - T0 if slot_ok(s) else None)
    print(json.dumps({"nums": nums, "dropped": bl.dropped, "torn": bl.torn}))
else:
    n = slot_t(bl.peek(len(bl) - 1)) - T0 + 1 if len(bl) else int(sys.argv[3])
    slot = bytearray(LAYOUT.size)
    print("ready")
    while True:
        for i in range(5, LAYOUT.size - 2):
            slot[i] = (n + i) & 0xFF
        seal(slot, T0 + n)
        bl.append(slot)
        print("A", n)
        n += 1
        if n % 10 == 0:
            bl.commit(5)
            print("C", 5)

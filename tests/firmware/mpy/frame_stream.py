# Feeds a byte stream built by CPython through the firmware's frame splitter in chunks.
# argv: kind (pms|sds), stream file, chunk sizes (comma-separated, cycled; each at most one
# frame long, so a chunk completes at most one frame).
# Prints one JSON line per valid frame (all field values) and a final line of counters.

import json
import sys

from bus.frames import FIELDS, FrameSplitter, field

kind = sys.argv[1]
with open(sys.argv[2], "rb") as f:
    data = f.read()
sizes = [int(x) for x in sys.argv[3].split(",")]
sp = FrameSplitter(kind)
buf = bytearray(64)
pos = 0
i = 0
while pos < len(data):
    k = min(sizes[i % len(sizes)], len(data) - pos)
    buf[:k] = data[pos:pos + k]
    pos += k
    i += 1
    got = sp.feed(buf, k)
    if got > 1:
        print(json.dumps({"error": f"{got} frames in one chunk"}))
    if got:
        print(json.dumps({"frame": [field(sp.frame, kind, n) for n in range(len(FIELDS[kind].split()))]}))
print(json.dumps({"frames": sp.frames, "bad": sp.bad, "skipped": sp.skipped}))

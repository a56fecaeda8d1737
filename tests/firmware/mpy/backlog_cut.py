# Power cut at every byte: the newest segment of a backlog is cut short at each byte of its
# last record (and of a segment header being written), or its last record is damaged; the
# backlog must open, keep every earlier record, lose at most that one, and take new records.
# argv[1]: a scratch folder. Prints PASS/FAIL lines.

import os
import sys

from hal.common import makedirs
from mpytest import eq, run
from station.backlog_open import open_backlog
from layouts import layout, slot_t
from station.record import seal, slot_ok

T0 = 1763755200
LAYOUT = layout(["so2", "temp"], ["ppb", "degC"])
ROOT = sys.argv[1]
_n = [0]


def fresh():
    _n[0] += 1
    d = f"{ROOT}/{_n[0]}"
    makedirs(d + "/backlog")
    return d


def record(t):
    slot = bytearray(LAYOUT.size)
    for i in range(5, LAYOUT.size - 2):
        slot[i] = (t + i) & 0xFF
    seal(slot, t)
    return slot


def filled(folder, k):
    bl = open_backlog(folder, LAYOUT, 2048, 4)
    for i in range(k):
        bl.append(record(T0 + i))
    segs = bl.segs[:]
    bl.close()
    return f"{folder}/backlog/{segs[-1]:08d}.seg"


def pending(folder):
    bl = open_backlog(folder, LAYOUT, 2048, 4)
    ts = []
    for i in range(len(bl)):
        s = bl.peek(i)
        ts.append(slot_t(s) - T0 if slot_ok(s) else None)
    return bl, ts


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_cut_inside_the_last_record():
    src = fresh()
    path = filled(src, 5)
    with open(path, "rb") as f:
        whole = f.read()
    for cut in range(len(whole) - LAYOUT.size, len(whole) + 1):
        d = fresh()
        write(d + "/backlog/" + path.rsplit("/", 1)[1], whole[:cut])
        bl, ts = pending(d)
        want = list(range(5)) if cut == len(whole) else list(range(4))
        eq(ts, want, f"cut at {cut} of {len(whole)}")
        bl.append(record(T0 + 5))
        bl.close()
        _, ts = pending(d)
        eq(ts, want + [5], f"appends continue after a cut at {cut}")


def test_damaged_last_record_is_the_torn_one():
    src = fresh()
    path = filled(src, 5)
    with open(path, "rb") as f:
        whole = bytearray(f.read())
    for pos in range(len(whole) - LAYOUT.size, len(whole)):
        d = fresh()
        bad = bytearray(whole)
        bad[pos] ^= 0x5A
        write(d + "/backlog/" + path.rsplit("/", 1)[1], bad)
        bl, ts = pending(d)
        eq((ts, bl.torn), (list(range(4)), 1), f"byte {pos} damaged")
        bl.close()


def test_cut_inside_a_new_segment_header():
    src = fresh()
    filled(src, 3)
    header = LAYOUT.header
    for cut in range(len(header)):
        d = fresh()
        for name in os.listdir(src + "/backlog"):
            with open(src + "/backlog/" + name, "rb") as f:
                write(d + "/backlog/" + name, f.read())
        write(d + "/backlog/99999999.seg", header[:cut])
        bl, ts = pending(d)
        eq(ts, [0, 1, 2], f"header cut at {cut}")
        eq("99999999.seg" in os.listdir(d + "/backlog"), False, "the empty segment is removed")
        bl.close()


run(globals())

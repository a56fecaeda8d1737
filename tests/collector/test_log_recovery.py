"""The log under the spool and the outboxes, on a real disk: one byte flipped anywhere in a
segment (header, count, CRC, payload, first or last byte, last record of a segment) loses only
the record it hit, whose bytes are in corrupt/, and the log says how much was kept and set
aside; segments in the format written before the shared log read back unchanged."""

from __future__ import annotations

import logging
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from collector import spool as spool_module
from collector.contracts import Reading
from collector.delivery.outbox import Outbox, OutboxItem
from collector.log.format import HEADER
from collector.spool import Spool

MASKS = (0x01, 0xFF)  # in a header: one bit (a length off by one), and the whole byte


def readings(n: int, start: int = 0) -> list[Reading]:
    return [Reading(station="pq-air-01", kind="air", param="so2", unit="ug/Nm3",
                    time=1763755200 + 300 * i, value=float(i) + 0.1, status=0, qc=1, n=30,
                    qc_bits=0, raw=i / 3) for i in range(start, start + n)]


def record_spans(data: bytes) -> list[tuple[int, int]]:
    spans, off = [], 0
    while off < len(data):
        end = off + HEADER.size + HEADER.unpack_from(data, off)[0]
        spans.append((off, end))
        off = end
    return spans


def drain(spool: Spool) -> list:
    out = []
    while True:
        got, pos = spool.read("influxdb", 10_000)
        if not got and pos == spool.cursor("influxdb"):
            return out
        out.extend(got)
        spool.advance("influxdb", pos, len(got))


def flips(segments: dict[str, bytes]):
    """(segment name, record index hit, flipped bytes) for every byte of every segment."""
    for name, data in segments.items():
        spans = record_spans(data)
        for pos in range(len(data)):
            hit = next(i for i, (a, b) in enumerate(spans) if a <= pos < b)
            in_header = any(a <= pos < a + HEADER.size for a, _ in spans)
            for mask in MASKS if in_header else MASKS[-1:]:
                bad = bytearray(data)
                bad[pos] ^= mask
                yield name, pos, mask, hit, spans[hit], bytes(bad)


def test_a_flipped_byte_anywhere_in_the_spool_loses_only_the_record_it_hit(tmp_path, caplog):
    # 6 batches of 2 readings, 3 records in each of two segments
    first = Spool(tmp_path / "orig", max_bytes=1 << 20, segment_bytes=700)
    for i in range(6):
        first.append(readings(2, 2 * i))
    first.close()
    segs = {p.name: p.read_bytes() for p in sorted((tmp_path / "orig").glob("*.seg"))}
    assert [len(record_spans(d)) for d in segs.values()] == [3, 3]
    order = [(name, i) for name, d in segs.items() for i in range(len(record_spans(d)))]
    caplog.set_level(logging.WARNING, "quantrac.collector.spool")
    checked = 0
    for name, pos, mask, hit, (a, b), bad in flips(segs):
        case = tmp_path / "case"
        shutil.rmtree(case, ignore_errors=True)
        case.mkdir()
        for other, data in segs.items():
            (case / other).write_bytes(bad if other == name else data)
        caplog.clear()
        lost = order.index((name, hit))
        spool = Spool(case, max_bytes=1 << 20, segment_bytes=700)
        try:
            got = drain(spool)
        finally:
            spool.close()
        why = f"byte {pos} of {name} ^ {mask:#x} (record {hit})"
        assert got == readings(2 * lost) + readings(10 - 2 * lost, 2 * lost + 2), why
        (kept,) = (case / "corrupt").iterdir()
        assert kept.read_bytes() == bad[a:b], why
        assert "kept 5 records" in caplog.text, why
        assert ("quarantined 1 damaged" in caplog.text or
                f"cut a torn tail of {b - a} bytes" in caplog.text), why
        again = Spool(case, max_bytes=1 << 20, segment_bytes=700)
        try:
            assert drain(again) == [], why  # drained once, damage or not
        finally:
            again.close()
        checked += 1
    assert checked == sum(len(d) + HEADER.size * len(record_spans(d)) for d in segs.values())


def test_a_flipped_byte_anywhere_in_an_outbox_loses_only_the_item_it_hit(tmp_path, caplog):
    keys = [f"k{i}" for i in range(5)]
    box = Outbox(tmp_path / "orig", ("api",))
    box.add([OutboxItem("api", k, {"n": k, "text": "x" * 20}) for k in keys])
    box.close()
    (seg,) = (tmp_path / "orig").glob("*.log")
    caplog.set_level(logging.WARNING, "quantrac.collector.outbox")
    for name, pos, mask, hit, (a, b), bad in flips({seg.name: seg.read_bytes()}):
        case = tmp_path / "case"
        shutil.rmtree(case, ignore_errors=True)
        case.mkdir()
        (case / name).write_bytes(bad)
        caplog.clear()
        why = f"byte {pos} ^ {mask:#x} (item {hit})"
        box = Outbox(case, ("api",))
        try:
            sent = []
            while (nxt := box.next("api")) is not None:
                sent.append(nxt[0].key)
                box.commit("api", nxt[1])
        finally:
            box.close()
        assert sent == keys[:hit] + keys[hit + 1:], why
        (kept,) = (case / "corrupt").iterdir()
        assert kept.read_bytes() == bad[a:b], why
        assert "kept 4 records" in caplog.text, why
        again = Outbox(case, ("api",))
        try:
            assert again.pending("api") == 0, why  # delivered once
        finally:
            again.close()


def damaged_spool(path: Path) -> tuple[Spool, list[tuple[int, int]]]:
    """A spool of three records whose second has a damaged length field, after it was
    appended (a disk fault under the running collector); the records' spans."""
    spool = Spool(path, max_bytes=1 << 20)
    for i in range(3):
        spool.append(readings(2, 2 * i))
    (seg,) = path.glob("*.seg")
    spans = record_spans(seg.read_bytes())
    with open(seg, "r+b") as f:
        f.seek(spans[1][0] + 2)
        f.write(b"\x7f")
    return spool, spans


def test_a_sink_that_keeps_up_reads_the_appended_items_from_memory(tmp_path):
    """What the worker just appended reaches the sink from memory, equal to what the segment
    holds (the same items a restarted collector decodes from the file), so a record damaged
    on disk while still in memory is delivered whole rather than lost."""
    spool, spans = damaged_spool(tmp_path / "s")
    try:
        assert drain(spool) == readings(6)
        assert spool.stats()["quarantined"] == {"records": 0, "bytes": 0}
    finally:
        spool.close()
    again = Spool(tmp_path / "t", max_bytes=1 << 20)
    try:
        again.append(readings(4))
        items, pos = again.read("influxdb", 10)
        assert [type(r) for r in items] == [Reading] * 4
        again.close()
        again = Spool(tmp_path / "t", max_bytes=1 << 20)  # a restart: decoded from the file
        assert again.read("influxdb", 10) == (items, pos)
    finally:
        again.close()


def test_damage_found_after_open_is_set_aside_too(tmp_path, caplog, monkeypatch):
    """A disk fault under a running collector, in records the spool no longer holds in memory
    (a long database outage): the reader quarantines the record it cannot read, not the rest
    of the segment."""
    monkeypatch.setattr(spool_module, "TAIL_ITEMS", 0)
    spool, spans = damaged_spool(tmp_path / "s")
    try:
        assert drain(spool) == readings(2) + readings(2, 4)
        (kept,) = (tmp_path / "s" / "corrupt").iterdir()
        assert kept.stat().st_size == spans[1][1] - spans[1][0]
        assert spool.stats()["quarantined"] == {"records": 1, "bytes": kept.stat().st_size}
    finally:
        spool.close()
    box = Outbox(tmp_path / "o", ("api",))
    try:
        box.add([OutboxItem("api", k, {"n": k}) for k in ("a", "b", "c")])
        (seg,) = (tmp_path / "o").glob("*.log")
        spans = record_spans(seg.read_bytes())
        with open(seg, "r+b") as f:
            f.seek(spans[1][1] - 2)
            f.write(b"#")
        sent = []
        while (nxt := box.next("api")) is not None:
            sent.append(nxt[0].key)
            box.commit("api", nxt[1])
        assert sent == ["a", "c"] and len(list((tmp_path / "o" / "corrupt").iterdir())) == 1
    finally:
        box.close()


def old_record(payload: bytes, count: int) -> bytes:
    """The record as the spool and the outbox wrote it before the shared log (format 1)."""
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<II", len(payload), count)))
    return struct.pack("<III", len(payload), count, crc) + payload


@pytest.mark.parametrize("kind", ["spool", "outbox"])
def test_segments_written_before_the_shared_log_read_back(tmp_path: Path, kind: str):
    if kind == "spool":
        row = b'[["pq-air-01","air","so2","ug/Nm3",1763755200,0.1,0,1,0,30,0,null,null,0.0]]'
        (tmp_path / f"{1:020d}.seg").write_bytes(old_record(row, 1) + old_record(row, 1))
        spool = Spool(tmp_path)
        try:
            got = drain(spool)
        finally:
            spool.close()
        assert [(r.station, r.param, r.time, r.value) for r in got] == \
            [("pq-air-01", "so2", 1763755200, 0.1)] * 2
    else:
        doc = b'{"d":"api","k":"a","b":{"n":1},"m":{},"t":1.0}'
        (tmp_path / f"{1:020d}.log").write_bytes(old_record(doc, 1))
        box = Outbox(tmp_path, ("api",))
        try:
            item, _ = box.next("api")
        finally:
            box.close()
        assert (item.key, item.body) == ("a", {"n": 1})

"""The spool on a real disk: order, durability across reopen, torn tails, damage, the cap."""

from __future__ import annotations

import json
import threading

import pytest

from collector import spool_format
from collector.contracts import Point, Reading
from collector.log.format import HEADER
from collector.spool import Spool, SpoolError, SpoolFull

KiB = 1 << 10


def readings(n: int, start: int = 0, station: str = "pq-air-01") -> list[Reading]:
    return [Reading(station=station, kind="air", param="so2", unit="ug/Nm3",
                    time=1763755200 + 300 * i, value=float(i) + 0.1, status=0, qc=1, n=30,
                    qc_bits=0, raw=i / 3) for i in range(start, start + n)]


@pytest.fixture
def opened(tmp_path):
    """Open spools through this; each is closed at the end."""
    made: list[Spool] = []

    def open_(**kw) -> Spool:
        s = Spool(tmp_path / "spool", **{"max_bytes": 4 << 20, "segment_bytes": 64 * KiB, **kw})
        made.append(s)
        return s
    yield open_
    for s in made:
        s.close()


def drain(spool: Spool, consumer: str = "influxdb", batch: int = 1000) -> list:
    out = []
    while True:
        got, pos = spool.read(consumer, batch)
        if not got and pos == spool.cursor(consumer):
            return out
        out.extend(got)
        spool.advance(consumer, pos, len(got))


def test_readings_come_back_oldest_first_and_exactly_as_written(opened):
    spool = opened()
    spool.append(readings(3))
    spool.append(readings(2, 3))
    got, pos = spool.read("influxdb", 100)
    assert got == readings(5)
    assert all(type(r.time) is int and type(r.qc_bits) is int for r in got)
    spool.advance("influxdb", pos, len(got))
    assert spool.read("influxdb", 100) == ([], pos) and spool.stats()["depth"] == 0


def test_a_reading_spooled_before_ref_existed_reads_back():
    new = Reading("pq-air-01", "air", "pm10", "ug/m3", 1763755200, 41.1, 0, raw=40.0,
                  ref="station")
    assert spool_format.decode(spool_format.encode([new])) == [new]
    old_row = json.loads(spool_format.encode([new]))[0][:-1]  # the 14 fields of before
    (back,) = spool_format.decode(json.dumps([old_row]).encode())
    assert (back.value, back.raw, back.ref) == (41.1, 40.0, "")


def test_points_keep_their_field_types(opened):
    spool = opened()
    p = Point("mean", {"station": "pq-air-01", "param": "so2"},
              {"value": 1.0, "n": 12, "complete": True, "note": "x"}, 1763755200, {"a": 1})
    spool.append([readings(1)[0], p])
    got, _ = spool.read("influxdb", 10)
    assert got[1] == p and type(got[1].fields["value"]) is float
    assert type(got[1].fields["n"]) is int and got[1].fields["complete"] is True


def test_the_cursor_survives_a_reopen_and_nothing_is_read_twice(opened):
    spool = opened()
    spool.append(readings(4))
    got, pos = spool.read("influxdb", 2)
    spool.append(readings(4, 4))
    spool.advance("influxdb", pos, len(got))
    spool.close()
    again = opened()
    assert again.stats()["depth"] == 8 - len(got)
    assert drain(again) == readings(8)[len(got):]


def test_a_read_without_advance_is_read_again_after_a_crash(opened):
    spool = opened()
    spool.append(readings(3))
    assert spool.read("influxdb", 10)[0] == readings(3)  # the sink wrote, then the crash
    spool.close()
    assert drain(opened()) == readings(3)


def test_segments_rotate_and_are_deleted_once_consumed(opened, tmp_path):
    spool = opened(segment_bytes=64 * KiB)
    for i in range(40):
        spool.append(readings(50, 50 * i))
    segs = sorted((tmp_path / "spool").glob("*.seg"))
    assert len(segs) >= 3 and spool.stats()["segments"] == len(segs)
    assert drain(spool, batch=400) == readings(2000)
    assert len(list((tmp_path / "spool").glob("*.seg"))) == 1  # only the one being written
    assert spool.stats()["pending_bytes"]["influxdb"] == 0


def test_a_torn_record_at_the_end_is_cut_off_at_open(opened, tmp_path):
    spool = opened()
    spool.append(readings(2))
    spool.append(readings(2, 2))
    spool.close()
    (seg,) = (tmp_path / "spool").glob("*.seg")
    whole = seg.read_bytes()
    with open(seg, "ab") as f:  # a crash in the middle of the next append
        f.write(HEADER.pack(500, 3, 12345) + b'[["pq-air-01","air"')
    again = opened()
    assert seg.stat().st_size == len(whole)
    assert drain(again) == readings(4)
    again.append(readings(1, 4))  # appends go on from the cut
    assert drain(again) == readings(1, 4)


def test_a_damaged_record_inside_the_spool_is_set_aside_and_the_rest_delivered(
        opened, tmp_path, caplog):
    spool = opened(segment_bytes=64 * KiB)
    for i in range(3):
        spool.append(readings(2, 2 * i))
    spool.close()
    (seg,) = (tmp_path / "spool").glob("*.seg")
    data = bytearray(seg.read_bytes())
    first = HEADER.size + HEADER.unpack_from(data, 0)[0]
    data[first + HEADER.size + 5] ^= 0xFF  # bit rot in the second record's payload
    seg.write_bytes(bytes(data))
    spool = opened(segment_bytes=64 * KiB)
    spool.append(readings(2, 6))
    got = drain(spool)
    assert got[:2] == readings(2)  # before the damage
    assert got[-2:] == readings(2, 6)  # appended after the damage was found
    (bad,) = (tmp_path / "spool" / "corrupt").iterdir()
    assert bad.stat().st_size > 0 and "moved to" in caplog.text


def test_a_full_spool_refuses_appends_until_a_consumer_frees_space(opened):
    spool = opened(max_bytes=256 * KiB, segment_bytes=64 * KiB)
    batch = readings(200)
    appended = 0
    with pytest.raises(SpoolFull) as full:
        while True:
            spool.append(batch)
            appended += 1
    assert appended >= 2 and spool.stats()["bytes"] <= 256 * KiB
    assert not spool.wait_for_space(full.value.needed, 0.05)
    waiter = threading.Thread(target=lambda: drain(spool, batch=200))
    waiter.start()
    assert spool.wait_for_space(full.value.needed, 30)
    waiter.join()
    spool.append(batch)  # room again


def test_one_batch_larger_than_the_spool_is_an_error_not_a_wait(opened):
    spool = opened(max_bytes=256 * KiB, segment_bytes=64 * KiB)
    with pytest.raises(SpoolError, match="more than the whole spool") as err:
        spool.append(readings(5000))
    assert not isinstance(err.value, SpoolFull)


def test_high_water_is_announced_once_each_way(opened):
    spool = opened(max_bytes=256 * KiB, segment_bytes=64 * KiB, high_water=0.5)
    heard = []
    spool.add_listener(lambda stats: heard.append((stats["high_water"], stats["bytes"])))
    while spool.stats()["bytes"] < 0.6 * 256 * KiB:
        spool.append(readings(100))
    spool.append(readings(10))  # still high: no second announcement
    assert [h for h, _ in heard] == [True] and spool.stats()["high_water"]
    drain(spool)
    assert [h for h, _ in heard] == [True, False] and not spool.stats()["high_water"]


def test_two_collectors_cannot_share_one_spool(opened):
    opened()
    with pytest.raises(SpoolError, match="in use by another collector"):
        opened()


def test_an_unreadable_cursor_means_reading_again_from_the_start(opened, tmp_path):
    spool = opened()
    spool.append(readings(2))
    got, pos = spool.read("influxdb", 10)
    spool.advance("influxdb", pos, len(got))
    spool.close()
    (tmp_path / "spool" / "cursor-influxdb.json").write_text("{not json")
    assert drain(opened()) == readings(2)  # written again: an overwrite in InfluxDB


def test_the_cursor_file_is_replaced_whole(opened, tmp_path):
    spool = opened()
    spool.append(readings(2))
    got, pos = spool.read("influxdb", 10)
    spool.advance("influxdb", pos, len(got))
    doc = json.loads((tmp_path / "spool" / "cursor-influxdb.json").read_text())
    assert (doc["segment"], doc["offset"]) == pos
    assert not list((tmp_path / "spool").glob(".*.tmp"))


def test_a_reader_waits_for_an_append(opened):
    spool = opened()
    timer = threading.Timer(0.2, lambda: spool.append(readings(1)))
    timer.start()
    got, _ = spool.read("influxdb", 10, timeout=30)
    timer.join()
    assert got == readings(1)

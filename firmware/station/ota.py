# Over-the-air updates: pull the wanted bundle in chunks, verify it, install it into the
# inactive slot and hand the switch to the loader (slots.py); judge a trial boot.
#
# Loaded only while an update message is handled or a trial is judged, and dropped afterwards
# (station/app.py), like station/control.py: between loop turns the heap carries none of it.
# Everything the download needs to resume lives on flash, so a reconnect or a reboot picks it
# up where it stopped:
#
#   quantrac/v1/<st>/fw       (retained, operator) the wanted version: {"v":1,"ver","bytes",
#                             "sha256" (of the whole bundle),"chunk","n","force"}; it arrives
#                             at every connect (the subscription brings the retained message)
#   quantrac/v1/<st>/fw/<i>   (retained, operator) chunk i, raw bytes; the station subscribes
#                             to the one it needs next, takes it, unsubscribes: one chunk per
#                             message handled, so sampling and publishing go on between them
#   <ota>/want, <ota>/dl      the wanted message being fetched, the bytes so far (appended;
#                             its length says which chunk comes next)
#   <ota>/refused             the sha256 of a bundle refused, not fetched again
#
# The running slot is never written. A finished download is checked before anything else
# changes: the whole bundle's sha256, the RSA-3072 signature (PKCS#1 v1.5, SHA-256) of its
# manifest with <ota>/key, the version (not lower than the running one unless forced), the
# MicroPython it needs, its size; then each file goes into the other slot with its own sha256
# checked, `version` last, and only then `trial` names that slot (an atomic rename): a power cut
# at any byte before it leaves the running version the one that boots.
# Answers go out as `ota` events: state download | refused | staged | good | rolled_back.

import json
import os
import sys
from hashlib import sha256
from micropython import const

import log

_TRIES = const(3)          # boots a new slot gets to prove itself healthy
_TRIAL_MS = const(600000)  # station ms for a trial boot to prove itself (station/app.py too)
_SLOT_BYTES = const(262144)
_RESTART = const(3)        # unix port: exit code asking the supervisor to start it again
# EMSA-PKCS1-v1_5 for a 3072-bit key: 00 01 FF.. 00, then SHA-256's DigestInfo; the digest follows
_PKCS = b"\x00\x01" + b"\xff" * 330 + b"\x00\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"


def _dir(station):
    """<folder of config.json>/ota, as slots.py finds it."""
    path = station.config_path
    return (path.rsplit("/", 1)[0] if "/" in path else ".") + "/ota"


def _put(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


def _drop(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def _event(station, state, ver, why=None):
    log.info("ota %s %s%s" % (state, ver, "" if why is None else ": " + why))
    fields = ',"state":"%s","ver":%s' % (state, json.dumps(ver))
    if why is not None:
        fields += ',"why":%s' % json.dumps(why)
    station.uplink.event("ota", fields.encode())


def _vt(ver):
    return [int(p) for p in ver.split(".")]


def _topic(station, idx):
    return station.uplink.data_topic[:-4] + b"fw/%d" % idx


def _subscribe(station, idx, old):
    """Ask the broker for chunk idx (its retained message comes with the SUBACK's wake), and
    leave the subscription to chunk old (-1: none) so no later publish there reaches us."""
    c = station.uplink.client
    if c is None:
        return
    if old >= 0:
        t = _topic(station, old)
        c.pid = 1 if c.pid >= 0xFFFF else c.pid + 1
        c.sock.write(bytes((0xA2, 4 + len(t), c.pid >> 8, c.pid & 0xFF)))
        c._send_str(t)
    if idx >= 0:
        c.subscribe(_topic(station, idx))


def handle(station, leaf, payload):
    """A message on fw (the wanted version) or fw/<i> (a chunk); a bundle staged restarts
    the station (restart()). leaf None: judge a trial boot (judge(); True while it goes on).
    One entry point, named as station/control.py's is: no name of its own to intern."""
    if leaf is None:
        return judge(station)
    d = _dir(station)
    try:
        if leaf == b"fw":
            return _wanted(station, d, payload)
        return _chunk(station, d, int(leaf[3:]), payload)
    except OSError as e:  # the filesystem: full or failing; the download resumes later
        log.error("ota: %r" % e)
        return False


def _note(station, d):
    """Report what the loader left (a rollback); the version rolled back, or None."""
    try:
        with open(d + "/note") as f:
            n = json.loads(f.read())
        _event(station, n["state"], n["ver"], n.get("why"))
    except (OSError, ValueError, KeyError):
        return None
    _drop(d + "/note")
    return n["ver"]


def _refuse(station, d, want, why):
    _event(station, "refused", want.get("ver"), why)
    _put(d + "/refused", want.get("sha256", "").encode())
    _drop(d + "/dl")
    _drop(d + "/want")


def _wanted(station, d, payload):
    back = _note(station, d)
    run = station.uplink.fw
    try:
        want = json.loads(payload) if payload else {}
        ver = want.get("ver")
        if not ver or ver == run:  # none, or what runs (also: a halted rollout)
            _drop(d + "/dl")       # a download under way stops here
            _drop(d + "/want")
            return False
        _vt(ver)
        if not (want["v"] == 1 and 0 < want["bytes"] and 0 < want["chunk"] <= 1792
                and len(want["sha256"]) == 64):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        _event(station, "refused", None, "wanted-version message malformed")
        return False
    if back == ver:  # its trial failed: not fetched again until another bundle is wanted
        _put(d + "/refused", want["sha256"].encode())
    try:
        with open(d + "/refused") as f:
            if f.read() == want["sha256"]:
                return False
    except OSError:
        pass
    try:
        with open(d + "/want") as f:
            same = json.loads(f.read())["sha256"] == want["sha256"]
    except (OSError, ValueError, KeyError):
        same = False
    if not same:
        try:
            lower = _vt(ver) < _vt(run)
        except ValueError:  # a development build's version
            lower = False
        if lower and not want.get("force"):
            _refuse(station, d, want, "version %s is lower than the running %s" % (ver, run))
            return False
        if want["bytes"] > _SLOT_BYTES:
            _refuse(station, d, want, "%d bytes do not fit a slot (%d)" % (
                want["bytes"], _SLOT_BYTES))
            return False
        _drop(d + "/dl")
        _put(d + "/want", payload)
        _event(station, "download", ver)
    have = _size(d + "/dl")
    if have >= want["bytes"]:
        return _install(station, d, want)
    _subscribe(station, have // want["chunk"], -1)
    return False


def _chunk(station, d, idx, payload):
    try:
        with open(d + "/want") as f:
            want = json.loads(f.read())
    except (OSError, ValueError):
        _subscribe(station, -1, idx)  # nothing being fetched: a stale subscription
        return False
    have = _size(d + "/dl")
    step = want["chunk"]
    last = idx == want["n"] - 1
    if have % step or idx != have // step or not payload or (
            len(payload) != step and not last):
        _subscribe(station, -1, idx)  # a chunk already written, or not one of this bundle
        return False
    with open(d + "/dl", "ab") as f:
        f.write(payload)
    if have + len(payload) >= want["bytes"]:
        _subscribe(station, -1, idx)
        return _install(station, d, want)
    _subscribe(station, idx + 1, idx)
    return False


def _install(station, d, want):
    """Check the downloaded bundle and write it into the inactive slot; True to restart."""
    import gc

    dl = d + "/dl"
    h = sha256()
    buf = bytearray(512)
    with open(dl, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
    from binascii import hexlify

    if hexlify(h.digest()).decode() != want["sha256"] or _size(dl) != want["bytes"]:
        _refuse(station, d, want, "bundle sha256 or size does not match the wanted version")
        return False
    try:
        with open(dl, "rb") as f:
            if f.read(4) != b"QFW1":
                raise ValueError("not a Quantrac firmware bundle")
            n = int.from_bytes(f.read(4), "big")
            raw = f.read(n)
            k = int.from_bytes(f.read(2), "big")
            sig = f.read(k)
            with open(d + "/key", "rb") as kf:
                key = int.from_bytes(kf.read(), "big")
            em = pow(int.from_bytes(sig, "big"), 65537, key).to_bytes(384, "big")
            key = None
            if len(sig) != 384 or em != _PKCS + sha256(raw).digest():
                raise ValueError("signature does not match the manifest")
            em = sig = None
            man = json.loads(raw)
            raw = None
            gc.collect()
            if man["ver"] != want["ver"]:
                raise ValueError("manifest version %s is not the wanted %s" % (
                    man["ver"], want["ver"]))
            if sys.implementation.version[:3] < tuple(_vt(man["mpy"])):
                raise ValueError("needs MicroPython %s" % man["mpy"])
            with open(d + "/active") as af:
                slot = "b" if af.read().strip() == "a" else "a"
            into = d + "/" + slot
            _clear(into)
            for name, size, digest in man["files"]:
                path = into + "/" + name
                _mkdirs(path.rsplit("/", 1)[0])
                h = sha256()
                left = size
                with open(path, "wb") as out:
                    while left:
                        got = f.readinto(memoryview(buf)[:min(left, 512)])
                        if not got:
                            raise ValueError("%s: missing or cut short" % name)
                        h.update(memoryview(buf)[:got])
                        out.write(memoryview(buf)[:got])
                        left -= got
                if hexlify(h.digest()).decode() != digest:
                    raise ValueError("%s: sha256 does not match the manifest" % name)
    except (ValueError, KeyError, TypeError, IndexError, OSError) as e:
        _refuse(station, d, want, str(e) or repr(e))
        return False
    _put(into + "/version", want["ver"].encode())
    _put(d + "/trial", b"%s %d" % (slot, _TRIES))  # the switch: one atomic rename
    _drop(dl)
    _drop(d + "/want")
    _event(station, "staged", want["ver"])
    restart(station)


def restart(station):
    """Restart into the loader: a reset on an ESP32; on the unix port the process ends with
    exit code 3 (the loop's clean stop runs: backlog closed, offline status) and its
    supervisor (systemd, the HIL runner) starts it again."""
    station.health.crumb(5)  # station/health.py REBOOT: the next boot says `command`
    if station.hal.platform == "unix":
        raise SystemExit(_RESTART)
    station.backlog.close()
    station.uplink.close()
    station.hal.reset()


def _mkdirs(path):
    here = ""
    for part in path.split("/"):
        here = here + "/" + part if here or path.startswith("/") else part
        try:
            os.mkdir(here)
        except OSError:
            pass


def _clear(path):
    try:
        names = os.listdir(path)
    except OSError:
        _mkdirs(path)
        return
    for name in names:
        p = path + "/" + name
        if os.stat(p)[0] & 0x4000:
            _clear(p)
            os.rmdir(p)
        else:
            os.remove(p)


def judge(station):
    """A trial boot's health check, run from the loop while a slot runs on trial, once a
    record was acknowledged or _TRIAL_MS passed: marked good when, besides, the clock is valid
    and a sensor gave a value; after _TRIAL_MS without that, back to the good slot at once.
    True while the trial goes on."""
    d = _dir(station)
    try:
        with open(d + "/trial") as f:
            slot = f.read().split()[0]
    except (OSError, IndexError):
        return False
    if sys.path[0] != d + "/" + slot:  # the good slot runs (a trial note not yet cleared)
        return False
    ver = station.uplink.fw
    # a sensor's value: a valid sample in the open period's windows (the devices' own values
    # are taken out by the sampler as soon as they are in: none is left to look at here)
    if station.publisher.sent and station.hal.epoch() is not None and any(
            station.sampler.win.n):
        _put(d + "/active", slot.encode())
        _drop(d + "/trial")
        _event(station, "good", ver)
        return False
    if station.up_ms < _TRIAL_MS:
        return True
    _put(d + "/trial", b"%s 0 health check not passed within %d s" % (slot, _TRIAL_MS // 1000))
    restart(station)
    return False

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
#
# Heap: every name and every str constant of up to 10 characters in a .mpy is interned when
# the module loads, and interned names are never freed: a station interning 8 more than it does
# already starts a 7 KB qstr pool (firmware/README.md "Memory"). So this module names its
# functions and arguments with names the station interns already (fw, apply, check, reset,
# subscribe, _append ...), keeps its file names, field names and state words in long strings
# split at run time (the pieces are not interned), and interns 2 names of its own: its module
# name and file. quantrac bench ota measures it (quantrac/bench/ota_heap.py).

import json
import os
import sys
from hashlib import sha256
from micropython import const

import log
from hal.common import makedirs

_TRIES = const(3)          # boots a new slot gets to prove itself healthy
_TRIAL_MS = const(600000)  # station ms for a trial boot to prove itself (station/app.py too)
_SLOT_BYTES = const(262144)
_RESTART = const(3)        # unix port: exit code asking the supervisor to start it again
# the paths handle() makes, in the order of its long string
_WANT = const(0)
_DL = const(1)
_REFUSED = const(2)
_NOTE = const(3)
_ACTIVE = const(4)
_TRIAL = const(5)
_KEY = const(6)
_SLOT_A = const(7)
_SLOT_B = const(8)
# event states, in the order of _emit()'s long string
_DOWNLOAD = const(0)
_REFUSE = const(1)
_STAGED = const(2)
_GOOD = const(3)


def handle(station, leaf, payload):
    """A message on fw (the wanted version) or fw/<i> (a chunk); a bundle staged restarts
    the station (reset()). leaf None: judge a trial boot (check(); True while it goes on).
    One entry point, named as station/control.py's is: no name of its own to intern."""
    path = station.config_path
    base = path.rsplit("/", 1)[0] if "/" in path else "."  # as slots.py finds <ota>
    p = [base + name for name in
         "/ota/want /ota/dl /ota/refused /ota/note /ota/active /ota/trial /ota/key /ota/a /ota/b"
         .split()]
    if leaf is None:
        return check(station, p)
    try:
        if leaf == b"fw":
            return fw(station, p, payload)
        return _append(station, p, int(leaf[3:]), payload)
    except OSError as e:  # the filesystem: full or failing; the download resumes later
        log.error("ota: %r (resumed later)" % e)
        return False


def _put(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


def _drop(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _read(path):
    """The file's text; "" when there is none."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def _decode(raw):
    """A wanted-version message's fields: v, bytes, chunk, sha256, ver, force, n (None when
    missing); raises ValueError or AttributeError when it is no JSON object."""
    want = json.loads(raw)
    return [want.get(k) for k in "v bytes chunk sha256 ver force n".split()]


def _emit(station, state, version, reason=None):
    """Log and report an `ota` event; state one of _DOWNLOAD.._GOOD, or a loader's word."""
    if type(state) is int:
        state = "download refused staged good".split()[state]
    s = "ota %s %s: %s" % (state, version, reason)
    log.info(s if reason is not None else s[:-6])  # without ": None"
    s = ',"state":"%s","ver":%s,"why":%s' % (state, json.dumps(version), json.dumps(reason))
    station.uplink.event("ota", (s if reason is not None else s[:-11]).encode())


def _num(version):
    return [int(n) for n in version.split(".")]


def subscribe(station, idx, done):
    """Ask the broker for chunk idx (-1: none; its retained message comes with the SUBACK's
    wake), and leave the subscription to chunk done (-1: none) so no later publish there
    reaches us."""
    c = station.uplink.client
    if c is None:
        return
    t = station.uplink.data_topic[:-4] + b"fw/%d"
    if done >= 0:
        u = t % done
        c.pid = 1 if c.pid >= 0xFFFF else c.pid + 1
        c.sock.write(bytes((0xA2, 4 + len(u), c.pid >> 8, c.pid & 0xFF)))
        c._send_str(u)
    if idx >= 0:
        c.subscribe(t % idx)


def _fail(station, p, version, digest, reason):
    """Refuse the wanted bundle (not fetched again) and report why."""
    _emit(station, _REFUSE, version, reason)
    _put(p[_REFUSED], (digest or "").encode())
    _drop(p[_DL])
    _drop(p[_WANT])


def fw(station, p, payload):
    """The wanted version: start, resume or stop a download; first report what the loader
    left (a rollback)."""
    back = None
    note = _read(p[_NOTE])
    if note:
        try:
            n = json.loads(note)
            state, back, why = [n.get(k) for k in "state ver why".split()]
        except (ValueError, AttributeError):
            state = None
        if state is None or back is None:
            back = None
        else:
            _emit(station, state, back, why)
            _drop(p[_NOTE])
    run = station.uplink.fw
    try:
        v, total, step, digest, ver, force, n = _decode(payload) if payload else [None] * 7
        if not ver or ver == run:  # none, or what runs (also: a halted rollout)
            _drop(p[_DL])          # a download under way stops here
            _drop(p[_WANT])
            return False
        _num(ver)
        if not (v == 1 and 0 < total and 0 < step <= 1792 and len(digest) == 64):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        _emit(station, _REFUSE, None, "wanted-version message malformed")
        return False
    if back == ver:  # its trial failed: not fetched again until another bundle is wanted
        _put(p[_REFUSED], digest.encode())
    if _read(p[_REFUSED]) == digest:
        return False
    try:
        same = _decode(_read(p[_WANT]))[3] == digest
    except (ValueError, AttributeError):
        same = False
    if not same:
        try:
            lower = _num(ver) < _num(run)
        except ValueError:  # a development build's version
            lower = False
        if lower and not force:
            _fail(station, p, ver, digest, "version %s is lower than the running %s" % (
                ver, run))
            return False
        if total > _SLOT_BYTES:
            _fail(station, p, ver, digest, "%d bytes do not fit a slot (%d)" % (
                total, _SLOT_BYTES))
            return False
        _drop(p[_DL])
        _put(p[_WANT], payload)
        _emit(station, _DOWNLOAD, ver)
    have = size(p[_DL])
    if have >= total:
        return apply(station, p, ver, total, digest)
    subscribe(station, have // step, -1)
    return False


def _append(station, p, idx, payload):
    """Chunk idx: appended to the download when it is the next one; the next asked for."""
    try:
        v, total, step, digest, ver, force, n = _decode(_read(p[_WANT]))
    except (ValueError, AttributeError):
        subscribe(station, -1, idx)  # nothing being fetched: a stale subscription
        return False
    have = size(p[_DL])
    last = idx == n - 1
    if have % step or idx != have // step or not payload or (
            len(payload) != step and not last):
        subscribe(station, -1, idx)  # a chunk already written, or not one of this bundle
        return False
    with open(p[_DL], "ab") as f:
        f.write(payload)
    if have + len(payload) >= total:
        subscribe(station, -1, idx)
        return apply(station, p, ver, total, digest)
    subscribe(station, idx + 1, idx)
    return False


def apply(station, p, version, total, digest):
    """Check the downloaded bundle and write it into the inactive slot; restarts the station
    (reset()) when it is staged, False when it was refused."""
    import gc
    from binascii import hexlify

    h = sha256()
    buf = bytearray(512)
    got = 0
    with open(p[_DL], "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
            got += n
    if hexlify(h.digest()).decode() != digest or got != total:
        _fail(station, p, version, digest,
              "bundle sha256 or size does not match the wanted version")
        return False
    try:
        with open(p[_DL], "rb") as f:
            if f.read(4) != b"QFW1":
                raise ValueError("not a Quantrac firmware bundle")
            n = int.from_bytes(f.read(4), "big")
            raw = f.read(n)
            k = int.from_bytes(f.read(2), "big")
            sig = f.read(k)
            with open(p[_KEY], "rb") as kf:
                key = int.from_bytes(kf.read(), "big")
            em = pow(int.from_bytes(sig, "big"), 65537, key).to_bytes(384, "big")
            key = None
            # EMSA-PKCS1-v1_5 for a 3072-bit key: 00 01 FF.. 00, SHA-256's DigestInfo, digest
            if len(sig) != 384 or em != b"\x00\x01" + b"\xff" * 330 + (
                    b"\x00\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01"
                    b"\x05\x00\x04\x20") + sha256(raw).digest():
                raise ValueError("signature does not match the manifest")
            em = sig = None
            man = json.loads(raw)
            raw = None
            gc.collect()
            mver, mpy, files = [man[k] for k in "ver mpy files".split()]
            if mver != version:
                raise ValueError("manifest version %s is not the wanted %s" % (mver, version))
            if sys.implementation.version[:3] < tuple(_num(mpy)):
                raise ValueError("needs MicroPython %s" % mpy)
            with open(p[_ACTIVE]) as af:
                into = p[_SLOT_B] if af.read().strip() == p[_SLOT_A][-1:] else p[_SLOT_A]
            # empty the other slot: its files, then its folders, the deepest first
            todo = [into]
            dirs = []
            while todo:
                d = todo.pop()
                try:
                    names = os.listdir(d)
                except OSError:
                    continue
                dirs.append(d)
                for name in names:
                    q = d + "/" + name
                    if os.stat(q)[0] & 0x4000:
                        todo.append(q)
                    else:
                        os.remove(q)
            for d in reversed(dirs[1:]):
                os.rmdir(d)
            makedirs(into)
            for name, left, want in files:
                path = into + "/" + name
                makedirs(path.rsplit("/", 1)[0])
                h = sha256()
                with open(path, "wb") as out:
                    while left:
                        got = f.readinto(memoryview(buf)[:min(left, 512)])
                        if not got:
                            raise ValueError("%s: missing or cut short" % name)
                        h.update(memoryview(buf)[:got])
                        out.write(memoryview(buf)[:got])
                        left -= got
                if hexlify(h.digest()).decode() != want:
                    raise ValueError("%s: sha256 does not match the manifest" % name)
    except (ValueError, KeyError, TypeError, IndexError, OSError) as e:
        _fail(station, p, version, digest, str(e) or repr(e))
        return False
    _put(into + b"/version".decode(), version.encode())  # bytes: a str would be interned
    # the switch: one atomic rename
    _put(p[_TRIAL], b"%s %d" % (into[-1:], _TRIES))
    _drop(p[_DL])
    _drop(p[_WANT])
    _emit(station, _STAGED, version)
    reset(station)


def reset(station):
    """Restart into the loader: a reset on an ESP32; on the unix port the process ends with
    exit code 3 (the loop's clean stop runs: backlog closed, offline status) and its
    supervisor (systemd, the HIL runner) starts it again."""
    station.health.crumb(5)  # station/health.py REBOOT: the next boot says `command`
    if station.hal.platform == "unix":
        raise SystemExit(_RESTART)
    station.backlog.close()
    station.uplink.close()
    station.hal.reset()


def check(station, p):
    """A trial boot's health check, run from the loop while a slot runs on trial, once a
    record was acknowledged or _TRIAL_MS passed: marked good when, besides, the clock is valid
    and a sensor gave a value; after _TRIAL_MS without that, back to the good slot at once.
    True while the trial goes on."""
    t = _read(p[_TRIAL]).split()
    if not t:
        return False
    slot = t[0]
    if sys.path[0] != p[_SLOT_A][:-1] + slot:  # the good slot runs (a trial note not cleared)
        return False
    # a sensor gave a value: a valid sample in the open period's windows (the sampler takes
    # each value out of its device as soon as it is sampled, so the devices hold none)
    if station.publisher.sent and station.hal.epoch() is not None and any(
            station.sampler.win.n):
        _put(p[_ACTIVE], slot.encode())
        _drop(p[_TRIAL])
        _emit(station, _GOOD, station.uplink.fw)
        return False
    if station.up_ms < _TRIAL_MS:
        return True
    _put(p[_TRIAL], b"%s 0 health check not passed within %d s" % (slot, _TRIAL_MS // 1000))
    reset(station)
    return False

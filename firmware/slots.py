# The loader: which slot's modules this boot runs, chosen before any of them is imported. Like
# a bootloader it is never part of an update bundle (fwtools/fwbundle.py LOADER); only
# `quantrac station flash` writes it. With no `ota/active` (a station flashed the old way, the
# unix port run from source) the modules on sys.path run as they are.
#
# <folder of config.json>/ota/ (ESP32: /ota):
#   active      the slot known good, "a" or "b" (replaced atomically: tmp, rename)
#   trial       "<slot> <boots left> [why]" while a new slot is on trial (station/ota.py
#               writes it after a verified install; each boot counts one down before the
#               new code runs, so a boot that raises or hangs, the watchdog resetting it,
#               still counts; at 0 the good slot runs again and `note` says why)
#   note        the last update's outcome as JSON, reported on the next connect
#   a/, b/      a slot: the bundle's files and `version` (the station's `fw`)
#
# The choice is handed over as sys.path[0], the slot's folder (".../ota/a" or ".../ota/b"):
# station/boot.py reads `fw` from its `version`, station/app.py has station/ota.py judge a trial.

import json
import os
import sys


def _put(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def pick(argv):
    path = argv[1] if len(argv) > 1 else "config.json"
    d = (path.rsplit("/", 1)[0] if "/" in path else ".") + "/ota"
    try:
        with open(d + "/active") as f:
            slot = f.read().strip()
    except OSError:
        slot = None
    if slot:
        try:
            with open(d + "/trial") as f:
                t = f.read().split(" ", 2)
            left = int(t[1])
            if t[0] == slot:  # marked good; cut before the trial note went
                os.remove(d + "/trial")
            elif left > 0:
                _put(d + "/trial", "%s %d %s" % (t[0], left - 1, t[2] if len(t) > 2 else ""))
                slot = t[0]
                if sys.platform == "esp32":  # a hang before the loop starts its own watchdog
                    import machine            # (wdt_s, 120 s by default) resets it too

                    machine.WDT(timeout=120000)
            else:
                with open(d + "/" + t[0] + "/version") as f:
                    ver = f.read().strip()
                _put(d + "/note", json.dumps({
                    "state": "rolled_back", "ver": ver,
                    "why": (t[2] if len(t) > 2 else "").strip() or
                    "no healthy run in its trial boots"}))
                os.remove(d + "/trial")
        except (OSError, ValueError, IndexError):
            pass
        sys.path.insert(0, d + "/" + slot)

# Entry point. Unix:  MICROPYPATH=firmware:.deps/micropython micropython firmware/main.py CONFIG
# ESP32: config.json at the flash root; main.py runs at boot. Everything is in station/app.py,
# so this file, the only one an ESP32 compiles from source at boot, stays tiny. slots.py picks
# the update slot to run first (never updated over the air itself).

import sys

import slots

slots.pick(sys.argv)
del sys.modules["slots"]
slots = None

from station.app import main  # noqa: E402 (after the slot is on sys.path)

main(sys.argv)

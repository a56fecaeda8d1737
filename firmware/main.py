# Entry point. Unix:  MICROPYPATH=firmware:.deps/micropython micropython firmware/main.py CONFIG
# ESP32: config.json at the flash root; main.py runs at boot. Everything is in station/app.py,
# so this file, the only one an ESP32 compiles from source at boot, stays tiny.

import sys

from station.app import main

main(sys.argv)

# Entry point. Unix:  MICROPYPATH=firmware:.deps/micropython micropython firmware/main.py CONFIG
# ESP32: config.json at the flash root; main.py runs at boot. Everything is in station/app.py,
# so this file, the only one an ESP32 compiles from source at boot, stays tiny. slots.py picks
# the update slot to run first (never updated over the air itself).

import sys

import slots

slots.pick(sys.argv)
del sys.modules["slots"]
slots = None

try:
    from station.app import main  # noqa: E402 (after the slot is on sys.path)

    main(sys.argv)
except Exception as e:
    # A boot that raises (e.g. a MicroPython that cannot import our .mpy) must not leave a
    # board at the REPL: reset, so a trial slot counts down and rolls back (slots.py). The
    # unix port raises as before (exit code 1). SystemExit (a config error) is not caught.
    if sys.platform != "esp32":
        raise
    sys.print_exception(e)
    import machine  # direct, not the HAL: the HAL's modules may be what failed to import
    import time

    time.sleep(3)  # the traceback gets out; a technician's Ctrl-C still reaches the REPL
    machine.reset()

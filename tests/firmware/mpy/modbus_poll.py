# The firmware's Modbus master against whatever answers on the configured UART.
# argv: config.json, cycles, cycle period in ms. Builds the devices exactly as main.py does
# and polls each once per cycle, printing one JSON line per poll:
# {"c": cycle, "id": sensor, "ok": bool, "online": bool, "ms": time spent, "v": [values]}

import json
import sys
import time

import config
import log
import station.boot as main
from hal import Hal

cfg = config.load(sys.argv[1])
cycles = int(sys.argv[2])
period = int(sys.argv[3])
hal = Hal(cfg)
log.setup("info", hal.epoch)
devices = main.build_devices(cfg, hal)
for c in range(cycles):
    start = time.ticks_ms()
    for d in devices:
        t0 = time.ticks_ms()
        ok = d.sample(t0)
        ms = time.ticks_diff(time.ticks_ms(), t0)
        print(json.dumps({"c": c, "id": d.id, "ok": ok, "online": d.online, "ms": ms,
                          "v": d.values if ok else None}))
    left = period - time.ticks_diff(time.ticks_ms(), start)
    if left > 0:
        time.sleep_ms(left)
hal.close()

# The station: read config.json, build HAL -> buses -> devices -> sampler -> queue ->
# publisher -> uplink, and run until interrupted.
#
#   unix:  MICROPYPATH=firmware:.deps/micropython micropython -X heapsize=128k \
#              firmware/main.py <config.json>
#   ESP32: config.json at the flash root; main.py runs at boot.
#
# Ctrl-C / SIGINT (KeyboardInterrupt) stops cleanly: a retained offline status, then
# DISCONNECT. Anything that kills the process instead leaves the broker to publish the will,
# which carries the same payload.

import gc
import sys

gc.collect()
import log  # noqa: E402 (imports interleaved with collections keep the peak heap low)

FIRMWARE = "quantrac"
IDLE_MS = 1000         # longest sleep of the main loop
STREAM_IDLE_MS = 100   # with a streaming sensor: drain its UART at least this often


def load_config(path):
    """(effective config, its masked JSON for the banner). Raises ValueError naming the key.

    The checking code runs once per boot, so its bytecode (~17 KB on the unix port) is handed
    back to the heap before the station's buffers are allocated.
    """
    import json

    import config

    try:
        cfg = config.load(path)
        shown = json.dumps(config.masked(cfg))
    finally:
        for name in ("config", "defaults"):
            sys.modules.pop(name, None)
    return cfg, shown


def build_devices(cfg, hal):
    from bus.rs485 import Rs485
    from devices.modbus_sensor import ModbusSensor
    from devices.pm_sensor import PmSensor

    lines = {}
    devices = []
    for s in cfg["sensors"]:
        name = s["uart"]
        if s["bus"] == "modbus":
            if name not in lines:
                lines[name] = Rs485(hal.uart(name, cfg["uarts"][name]), hal)
            devices.append(ModbusSensor(s, lines[name], hal))
        else:
            devices.append(PmSensor(s, hal.uart(name, cfg["uarts"][name]), hal))
        gc.collect()
    return devices


def banner(cfg, shown, hal, boot):
    log.info("boot %s firmware %s station=%s boot=%s reset=%s platform=%s" % (
        FIRMWARE, cfg["fw"], cfg["station"], boot, hal.reset_cause(), hal.platform))
    log.info("config " + shown)


class Station:
    """Everything built from the config; the config itself is not kept (heap)."""

    def __init__(self, cfg, hal, boot):
        # All code first (compiling from source is the boot's peak), then the big buffers
        # while the freed compile space is still in large pieces, then the small objects.
        import bus.rs485  # noqa: F401
        import devices.modbus_sensor  # noqa: F401
        import devices.pm_sensor  # noqa: F401
        from station.publisher import Publisher
        from station.queue import RamQueue
        from station.record import Messages, config_bytes, entries
        from station.sampler import Sampler
        from station.uplink import Uplink

        gc.collect()
        q = cfg["queue"]
        size = max(q["record_bytes"], config_bytes(cfg["sensors"]))
        self.queue = RamQueue(q["records"], size)
        messages = Messages(cfg["station"], cfg["fw"], boot, size * q["batch"])
        self.hal = hal
        self.devices = build_devices(cfg, hal)
        ents = entries(self.devices, log.warn)
        self.sampler = Sampler(cfg, hal, self.devices, ents, self.queue)
        self.uplink = Uplink(cfg, hal, boot, hal.reset_cause())
        self.publisher = Publisher(self.queue, self.uplink, messages, q["batch"])
        streams = [s for s in cfg["sensors"] if s["bus"] == "stream"]
        self.idle_ms = STREAM_IDLE_MS if streams else IDLE_MS
        log.info("boot ready sensors=%d params=%d record_bytes=%d queue=%dx%d" % (
            len(self.devices), len(ents), size, q["records"], size))

    def run(self):
        """Sample, close records, keep the link, drain the queue; until KeyboardInterrupt."""
        hal = self.hal
        sampler = self.sampler
        errors = 0
        gc.collect()
        log.info("run free=%d" % gc.mem_free())
        try:
            while True:
                try:
                    sampler.step(hal.ticks_ms())
                    self.uplink.service(hal.ticks_ms())
                    self.publisher.drain()
                    hal.wdt_feed()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:  # a station on a pole keeps going; the log says why
                    errors += 1
                    log.error("loop error %d: %r" % (errors, e))
                    sys.print_exception(e)
                    hal.sleep_ms(1000)
                hal.sleep_ms(min(self.idle_ms, sampler.due_in(hal.ticks_ms())))
        except KeyboardInterrupt:
            log.info("stop interrupted; queued=%d" % len(self.queue))
        finally:
            if self.uplink.close():
                log.info("stop offline status published")
            else:
                log.warn("stop broker not reachable; the last will reports offline")


def build_station(path):
    """Config, HAL, banner and the station; exits 2 on a config or wiring error."""
    try:
        cfg, shown = load_config(path)
    except ValueError as e:  # ConfigError: names the key
        log.error(str(e))
        sys.exit(2)
    gc.collect()
    from binascii import hexlify

    from hal import Hal

    hal = Hal(cfg)
    log.setup(cfg["log"]["level"], hal.epoch)
    boot_id = hexlify(hal.random_bytes(4)).decode()
    banner(cfg, shown, hal, boot_id)
    shown = None
    try:
        return Station(cfg, hal, boot_id)
    except ValueError as e:  # a UART that cannot be opened, a sensor that cannot be built
        log.error(str(e))
        hal.close()
        sys.exit(2)


def main():
    station = build_station(sys.argv[1] if len(sys.argv) > 1 else "config.json")
    try:
        station.run()
    finally:
        station.hal.close()


if __name__ == "__main__":  # also true for main.py at an ESP32 boot
    main()

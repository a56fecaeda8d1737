# The hardware abstraction layer: the only place that touches machine, network, esp32,
# termios, select or device files. Everything above it runs unchanged on an ESP32 and on the
# unix port. `Hal` is chosen by sys.platform; both implementations keep this contract.
#
# Hal(cfg)                      cfg: the effective config (config.check)
#   .platform                   "esp32" | "unix"
#   .data_dir                   folder of the backlog and breadcrumbs (made on first use)
#   .uart(name, ucfg) -> Uart   open one configured UART (ucfg: merged defaults["uart"])
#   .ticks_ms() .sleep_ms(ms)   STATION time, monotonic, wrapping: cadence, back-off, keepalive
#   .ticks_add(t, ms) .ticks_diff(a, b)
#   .speed                      station ms per real ms (unix fast clock; 1 on an ESP32)
#   .io_ticks_ms() .io_sleep_ms(ms)   REAL time for bus I/O (timeouts, turnaround, streams)
#   .epoch() -> int | None      station UTC seconds; None while not valid (before 2024, or
#                               the unix port's clock.valid_after_s)
#   .sync_time(host) -> bool    NTP on an ESP32 (blocks ~2 s at most); unix: the host's clock
#   .random_bytes(n) -> bytes   from the hardware/OS random source (boot id, jitter)
#   .reset_cause() -> str       power_on | hard | watchdog | deep_sleep | soft
#   .reset()                    reboot (unix: raises hal.common.Reboot, main restarts in-process)
#   .rtc_mem([data]) -> bytes   memory that survives a reset (ESP32 RTC; unix: a file)
#   .net_up() -> bool           bring up / check the network link, never blocking long
#   .rssi() -> int | None       Wi-Fi signal, dBm
#   .sockets                    what umqtt.simple needs of a socket module: .socket() and
#                               .getaddrinfo(host, port); sockets time out (hal/common.py)
#   .start_wdt(ms) .wdt_feed()  hardware watchdog; a no-op until start_wdt (unix: always)
#   .close()                    release UARTs, pins and files
#
# hal/esp32_image.py (ESP32 with OTA partitions only; imported by the update code when needed,
# not part of Hal so it costs no heap): image_update_begin(size, have=0) -> offset,
# image_update_write(data), image_update_finish(sha256_hex) -> label, image_update_abort(),
# image_running() -> label, image_mark_valid() -> label; errors are ImageError (ValueError).
#
# Uart
#   .baud .char_us              line speed; one character time in microseconds (start,
#                               data, parity and stop bits)
#   .write(buf, n)              send buf[0:n]; returns when the last stop bit has left the
#                               wire and the RS-485 driver (DE/RE) is released
#   .readinto(mv) -> int        whatever has arrived, up to len(mv); 0 when nothing, never waits
#   .wait(ms) -> bool           True as soon as a byte is waiting, False after ms without one
#   .drain() -> int             discard everything waiting; the count
#   .close()

import sys

if sys.platform == "esp32":
    from hal.esp32 import Hal
else:
    from hal.unix import Hal

__all__ = ["Hal"]


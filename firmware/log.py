# One line per event on stdout: "<time> <level> <message>".
#
# Time is UTC ISO 8601 once the clock is valid, "+<uptime s>" before that. Messages start
# with a fixed event word (boot, config, mqtt, sensor, record, publish, stop) so that a bench
# or a technician can grep them.

import time

LEVELS = ("debug", "info", "warn", "error")
_level = 1
_epoch = None  # a function returning UTC seconds or None


def setup(level="info", epoch=None):
    global _level, _epoch
    _level = LEVELS.index(level)
    _epoch = epoch


def _civil(t):
    """(year, month, day, hh, mm, ss) of UTC epoch seconds (Howard Hinnant's days->civil)."""
    days, s = divmod(t, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return y, m, d, s // 3600, s // 60 % 60, s % 60


def stamp():
    t = _epoch() if _epoch else None
    if t is None:
        ms = time.ticks_ms()
        return "+%d.%03d" % (ms // 1000, ms % 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % _civil(t)


def _emit(level, msg):
    if level >= _level:
        print(stamp(), LEVELS[level], msg)


def debug(msg):
    _emit(0, msg)


def info(msg):
    _emit(1, msg)


def warn(msg):
    _emit(2, msg)


def error(msg):
    _emit(3, msg)


def dump(name, data, level=1):
    """One line "<time> <level> <name> <data as JSON>", written to stdout piece by piece: the
    station's config is a few KB of JSON, and a boot heap cut up by the config parse has no
    free block that large (the air station failed to boot for want of 2 KB in one piece)."""
    if level >= _level:
        import json
        import sys

        print(stamp(), LEVELS[level], name, end=" ")
        json.dump(data, sys.stdout)
        print()

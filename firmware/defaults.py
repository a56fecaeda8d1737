# The one defaults dict: every setting the firmware reads, with its default beside it.
#
# Each section is the template for one kind of config object; config.py merges a station's
# config.json onto it and refuses keys that are not here. REQUIRED marks keys with no sensible
# default (the error names them when missing). Sizes are chosen for an ESP32 without PSRAM.

REQUIRED = "<required>"

DEFAULTS = {
    # top level of config.json
    "config": {
        "station": REQUIRED,        # registry id, also the MQTT client id and user name
        "kind": "",                 # air | tap_water | wastewater | sea_water (informative)
        "fw": "0.1.0",
        "sample_s": 10,             # poll every device this often (monotonic clock)
        "report_s": 300,            # close records at wall-clock multiples of this
        "mqtt": REQUIRED,
        "wifi": {},                 # ESP32 only: {"ssid": ..., "password": ...}
        "uarts": REQUIRED,
        "sensors": REQUIRED,
        "data_dir": "",             # backlog and breadcrumbs; "": ./data beside config.json
                                    # on the unix port, /data on an ESP32
        "clock": {},
        "cal": {},                  # param -> {"v": n, "offset", "slope"} | {"v": n, "points"}
        "backlog": {},
        "health_s": 900,            # health event period (station seconds)
        "wdt_s": 120,               # hardware watchdog (ESP32); > 3 x mqtt.timeout_s
        "log": {},
    },
    # Station time. The unix port can run it faster than real time for tests; an ESP32 ignores
    # speed, t0 and valid_after_s and takes its time from the RTC and NTP.
    "clock": {
        "speed": 1,                 # station seconds per real second (unix port, >= 1)
        "t0": None,                 # station epoch at boot (unix port); null: the host's now
        "valid_after_s": 0,         # unix port: no valid time for this many station seconds
        "ntp_host": "pool.ntp.org",  # ESP32: NTP server ("" : never sync)
        "ntp_every_s": 21600,       # ESP32: resync period once valid (retry every 60 s before)
    },
    # On-flash backlog of closed records (station/backlog.py)
    "backlog": {
        "bytes": 1048576,           # flash budget for the backlog; oldest records dropped beyond
        "segments": 32,             # files it is split into (the unit of dropping)
        "minmax": False,            # keep min/max per parameter (doubles the record size)
        "batch": 16,                # records per data message while draining
        "msg_bytes": 2048,          # message buffer (at least one record always fits; 2 KB
                                    # carry ~8 air-station records: 60 days drain in ~2,200
                                    # messages, and 2 KB more heap stays free for TLS)
        "hold": 24,                 # records held (a ring file on flash, <data_dir>/held)
                                    # while the clock is not valid yet
    },
    "mqtt": {
        "host": REQUIRED,
        "port": 1883,
        "user": REQUIRED,
        "password": REQUIRED,
        "keepalive": 60,            # s; a PINGREQ goes out after keepalive/2 without traffic
        "timeout_s": 10,            # socket timeout: connect, CONNACK, PUBACK
        "backoff_min_s": 1,         # reconnect delay doubles from here ...
        "backoff_max_s": 120,       # ... up to here, each draw jittered to 50-100 %
        "tls": "",                  # folder (beside config.json unless absolute) with ca.der,
                                    # client.der, client.key.der: TLS to the broker, which must
                                    # show a certificate of that CA for `host`; "": plain TCP
    },
    "wifi": {
        "ssid": "",
        "password": "",
    },
    "log": {
        "level": "info",            # debug | info | warn | error
    },
    "uart": {
        "baud": 9600,
        "bits": 8,
        "parity": "N",              # N | E | O
        "stop": 1,
        "path": "",                 # unix port: the pty or tty to open
        "id": -1,                   # ESP32: UART number, pins, DE/RE pin (-1: none)
        "tx": -1,
        "rx": -1,
        "de": -1,
        "rxbuf": 512,
    },
    "modbus": {
        "id": REQUIRED,
        "model": "",
        "bus": REQUIRED,
        "uart": REQUIRED,
        "addr": REQUIRED,
        "fn": 3,                    # 3 holding or 4 input registers
        "timeout_ms": 250,          # reply must start and end within this
        "turnaround_ms": 100,       # line quiet time before the next request
        "tries": 2,                 # attempts per poll before the poll counts as failed
        "offline_after": 3,         # failed polls in a row that mark the slave offline
        "offline_min_s": 10,        # first probe interval of an offline slave, doubling ...
        "offline_max_s": 300,       # ... up to this
        "ch": REQUIRED,
        "sample_s": 0,              # a sound meter's own period (devices/sound.py: its level
                                    # read this often, six statistics recorded); 0: none
        # (names MicroPython already interns, so they cost the station none of its own)
        "read": [],                 # register blocks [[fn, first register, count], ...], one
                                    # request each; []: one read of fn covering every channel
        "send": [],                 # actions before the reads: [[fn, register, count | [words],
                                    # wait_ms, once], ...] (fn 3/4 with count 0, or 16)
    },
    "modbus_ch": {
        "param": REQUIRED,
        "unit": REQUIRED,
        "reg": REQUIRED,
        "type": REQUIRED,           # int16 uint16 int32 uint32 float32
        "order": "ABCD",            # ABCD CDAB BADC DCBA (16-bit: BADC/DCBA swap the bytes)
        "scale": 1,
        "offset": 0,
        "dec_reg": -1,              # register holding a decimal-point count, -1: none
        "err_reg": -1,              # register whose bits in err_mask flag a bad value, -1: none
        "err_mask": 0xFFFF,         # e.g. 0xFF00: an error byte in the high byte (Yosemitech)
        "signed": 0,                # 0 the type's; -1 sign-magnitude; N > 0 raw >= N is -(raw - N)
        "discard": [],              # raw words meaning "unavailable" (with err_reg: its codes)
        "code": [],                 # [unit-code register, [[code, factor], ...]]: the code
                                    # picks the factor; a code not listed: unavailable
        "range": REQUIRED,          # [low, high]; samples outside are discarded and flagged
    },
    "stream": {
        "id": REQUIRED,
        "model": "",
        "bus": REQUIRED,
        "uart": REQUIRED,
        "frame": REQUIRED,          # pms | sds | hpma | hpmaqa | ze | zeqa | bm
        "match": [],                # [[position, byte], ...] a frame must hold (ze: gas, unit)
        "send": [],                 # [[[bytes], every_ms], ...] to the sensor (0: once)
        "warmup_s": 15,             # fan and laser settle after power-up: no samples before
        "sample_s": 5,              # catalog sampling window (duty cycling comes later)
        "stale_s": 3,               # a frame older than this is not a sample
        "ch": REQUIRED,
    },
    "stream_ch": {
        "param": REQUIRED,
        "unit": REQUIRED,
        "field": REQUIRED,
        "scale": 1,                 # not pms, sds (e.g. ppm -> ppb: 1000)
        "range": REQUIRED,
    },
}

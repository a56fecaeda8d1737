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
        "queue": {},
        "log": {},
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
    },
    "wifi": {
        "ssid": "",
        "password": "",
    },
    # RAM queue of closed records while the broker is unreachable (flash backlog comes later)
    "queue": {
        "records": 16,              # oldest dropped (and counted) beyond this
        "record_bytes": 0,          # slot size; 0: the worst case of this station's channels
        "batch": 4,                 # records per data message when draining
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
        "range": REQUIRED,          # [low, high]; samples outside are discarded and flagged
    },
    "stream": {
        "id": REQUIRED,
        "model": "",
        "bus": REQUIRED,
        "uart": REQUIRED,
        "frame": REQUIRED,          # pms | sds
        "warmup_s": 15,             # fan and laser settle after power-up: no samples before
        "sample_s": 5,              # catalog sampling window (duty cycling comes later)
        "stale_s": 3,               # a frame older than this is not a sample
        "ch": REQUIRED,
    },
    "stream_ch": {
        "param": REQUIRED,
        "unit": REQUIRED,
        "field": REQUIRED,
        "range": REQUIRED,
    },
}

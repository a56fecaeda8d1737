"""What a real transmitter does beyond its register map, read from its catalog file
(sensor-maps.md §6), for hil.modbus_slave: no code per model.

- `Reads`: which reads it serves: per block with the block's function (FC03 holding, FC04
  input, §6.3), and what an unmapped register gets: exception 02, or no answer at all with
  `modbus.unmapped: "silent"` (Yosemitech).
- `Actions`: the start/trigger/wake actions of `modbus.before_read` (§6.7): a read of 0
  registers is answered with an empty reply, an FC16 trigger with its echo; until every
  action arrived (and its `wait_ms` passed) the channels read as unavailable.
- `sentinel`: the words a channel sends when it has no value (§6.8): NaN for float32, the
  first of its `unavailable` raw values, else None (the slave reports device failure or
  sets its error register).
- `SetUp`: the maker's address and baud procedure (`modbus.setup`, §6.4): the write function,
  the ID in the high byte, a baud code or the rate / divisor, unlock and save writes, when it
  takes effect (a `restart` waits for `power_cycle()`).
"""

from __future__ import annotations

import struct
import threading
import time

from hil import modbus_rtu as rtu

WRITE_MULTIPLE = 16
NAN_ABCD = struct.pack(">f", float("nan"))


class Reads:
    """The reads a model answers: (function, first PDU register, end) per block."""

    def __init__(self, model: dict) -> None:
        mb = model["modbus"]
        base = mb.get("numbering", 0)
        self.function = mb["function"]
        self.blocks = [(b.get("function", self.function), b["register"] - base,
                        b["register"] - base + b["count"]) for b in mb.get("blocks", [])]
        self.silent = mb.get("unmapped") == "silent"

    def functions(self) -> set[int]:
        return {fn for fn, _, _ in self.blocks} or {self.function}

    def allowed(self, function: int, address: int, count: int) -> bool:
        """Whether a read of mapped registers with this function is served (else 01)."""
        if not self.blocks:
            return function == self.function
        return any(fn == function and lo <= address and address + count <= hi
                   for fn, lo, hi in self.blocks)


class Actions:
    """The model's before-read actions as the transmitter receives them."""

    def __init__(self, model: dict) -> None:
        mb = model["modbus"]
        base = mb.get("numbering", 0)
        self.actions = [{**a, "register": a["register"] - base}
                         for a in mb.get("before_read", [])]
        self._seen: dict[int, float] = {}
        self._lock = threading.Lock()

    def match(self, function: int, register: int, count: int,
              values: list[int] | None = None) -> bool:
        """Record the request when it is one of the actions (True: answer it as done)."""
        for i, a in enumerate(self.actions):
            if a["function"] != function or a["register"] != register:
                continue
            if a["function"] == WRITE_MULTIPLE and values != a["values"]:
                continue
            if a["function"] != WRITE_MULTIPLE and count != a.get("count", 0):
                continue
            with self._lock:
                self._seen[i] = time.monotonic()
            return True
        return False

    def ready(self) -> bool:
        """Every action received, each at least its wait_ms ago: the values are measured."""
        now = time.monotonic()
        with self._lock:
            return all(i in self._seen and now - self._seen[i] >= a.get("wait_ms", 0) / 1000
                       for i, a in enumerate(self.actions))

    def age(self) -> None:
        """Every action received so far counts as long past its wait."""
        with self._lock:
            self._seen = {i: 0.0 for i in self._seen}

    def forget(self) -> None:
        """A power cycle: the transmitter waits for its start again."""
        with self._lock:
            self._seen.clear()


def sentinel(channel: dict, order_bytes) -> list[int] | None:
    """The words meaning "no value" for this channel, or None when it has none."""
    if channel["type"] == "float32":
        return list(struct.unpack(">HH", order_bytes(NAN_ABCD, channel.get("order", "ABCD"))))
    void = channel.get("unavailable")
    if not void:
        return None
    raw = int(void[0])
    if channel["type"] in ("int16", "uint16"):
        return [raw & 0xFFFF]
    return list(struct.unpack(">HH", order_bytes(struct.pack(">I", raw & 0xFFFFFFFF),
                                                 channel.get("order", "ABCD"))))


class SetUp:
    """The maker's address and baud procedure, slave side."""

    def __init__(self, model: dict, baud: int) -> None:
        mb = model["modbus"]
        base = mb.get("numbering", 0)
        s = mb.get("setup", {})
        self.function = s.get("function", 6)
        self.address = s["address"]["register"] - base if "address" in s else None
        self.high = s.get("address", {}).get("byte") == "high"
        b = s.get("baud", {})
        self.baud_register = b["register"] - base if b else None
        self.codes = {v: int(k) for k, v in b.get("codes", {}).items()}
        self.divisor = b.get("divisor")
        self.unlock = {(u["register"] - base, u["value"]) for u in s.get("unlock", [])}
        self.save = {(u["register"] - base, u["value"]) for u in s.get("save", [])}
        self.effect = s.get("takes_effect", "write")
        self.baud = baud  # the speed it would answer at (a pty carries any)
        self.unlocked = not self.unlock
        self.pending: dict[str, int] = {}

    def handles(self, register: int, value: int) -> bool:
        return register in (self.address, self.baud_register) or \
            (register, value) in self.unlock or (register, value) in self.save

    def write(self, function: int, register: int, value: int) -> dict[str, int]:
        """Obey one write; the settings that take effect now ({"address": …, "baud": …})."""
        if function != self.function:
            raise rtu.ModbusError(rtu.ILLEGAL_FUNCTION,
                                  f"set-up writes take function {self.function}")
        if (register, value) in self.unlock:
            self.unlocked = True
            return {}
        if (register, value) in self.save:
            done, self.pending = self.pending, {}
            return done if self.effect == "save" else {}
        if not self.unlocked:
            raise rtu.ModbusError(rtu.SLAVE_DEVICE_FAILURE, "locked: write the unlock first")
        if register == self.address:
            new = value >> 8 if self.high else value
            if not 1 <= new <= 247 or (self.high and value & 0xFF):
                raise rtu.ModbusError(rtu.ILLEGAL_DATA_VALUE, f"address {value} is not 1..247")
            self.pending["address"] = new
        else:
            bps = self.codes.get(value) if self.codes else value * (self.divisor or 1)
            if bps is None:
                raise rtu.ModbusError(rtu.ILLEGAL_DATA_VALUE, f"baud code {value} is unknown")
            self.pending["baud"] = bps
        if self.effect == "write":
            done, self.pending = self.pending, {}
            return done
        return {}

    def power_cycle(self) -> dict[str, int]:
        """What a restart applies: the settings written and not yet in effect."""
        done, self.pending = self.pending, {}
        self.unlocked = not self.unlock
        return done

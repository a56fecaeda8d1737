"""A Modbus RTU slave answering one catalog model's register map from a signal source.

Encoding, per catalog channel (the inverse of what a master decodes):

    raw = (value - offset) / scale * 10**decimals

`scale` defaults to 1 and `offset` to 0; `decimals` is the content of the channel's
`decimals_register` when it has one (the device tells the master where its decimal point is),
else 0. Integer types round raw to the nearest integer; float32 sends raw as an IEEE-754 float.
32-bit values go out in the channel's word order: ABCD big-endian, CDAB word-swapped, BADC
bytes swapped within each word, DCBA fully little-endian. A channel's `error_register` holds
the code `set_error()` gave it (0: no error), shifted into the bits of its `error_mask`.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Callable
from typing import Protocol

from hil import modbus_rtu as rtu
from hil import signals
from hil.slave_quirks import Actions, Reads, SetUp, sentinel

Source = Callable[[str], float]


class Faults(Protocol):
    """What a simulator asks of its faults (hil.faults.FaultSet)."""

    def value(self, param: str, v: float) -> float: ...

    def wire(self, frame: bytes, family: str = "modbus") -> tuple[float, bytes | None]: ...

_FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
_LIMITS = {"int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1),
           "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}
_FLOAT32_MAX = 3.4028234e38
WRITE_MULTIPLE = 16
DEFAULT_DECIMALS = 2
MAX_DECIMALS = 4


class EncodeError(ValueError):
    """A value the channel's register type cannot carry."""


def words(channel: dict) -> int:
    return 1 if channel["type"] in ("int16", "uint16") else 2


def to_raw(channel: dict, value: float, decimals: int = 0) -> float:
    return (value - channel.get("offset", 0)) / channel.get("scale", 1) * 10**decimals


def order_bytes(big_endian: bytes, order: str) -> bytes:
    """Rearrange 4 big-endian (ABCD) bytes into the channel's word order."""
    a, b, c, d = big_endian
    arranged = {"ABCD": (a, b, c, d), "CDAB": (c, d, a, b), "BADC": (b, a, d, c),
                "DCBA": (d, c, b, a)}
    try:
        return bytes(arranged[order])
    except KeyError:
        raise EncodeError(f"word order {order!r} is not one of ABCD, CDAB, BADC, DCBA") from None


def encode(channel: dict, value: float, decimals: int = 0, saturate: bool = False) -> list[int]:
    """The register words carrying value for this channel.

    saturate=True clips to what the type can hold (a transmitter at full scale);
    otherwise a value outside it raises EncodeError naming the channel.
    """
    kind = channel["type"]
    raw = to_raw(channel, value, decimals)
    if not math.isfinite(raw):
        raise EncodeError(f"{channel['param']}: {value!r} is not a finite number")
    if kind == "float32":
        if abs(raw) > _FLOAT32_MAX:
            if not saturate:
                raise EncodeError(f"{channel['param']}: {value!r} overflows float32")
            raw = math.copysign(_FLOAT32_MAX, raw)
    else:
        raw = round(raw)
        lo, hi = _LIMITS[kind]
        sign = channel.get("sign", "twos")
        if sign != "twos":  # a negative value in the top bit or above an offset (§6.5)
            bits = 16 if kind in ("int16", "uint16") else 32
            top = (1 << (bits - 1)) if sign == "magnitude" else channel["negative_from"]
            lo, hi = -(2**bits - 1 - top), top - 1
            kind = "uint16" if bits == 16 else "uint32"
        if not lo <= raw <= hi:
            if not saturate:
                raise EncodeError(f"{channel['param']}: {value!r} encodes to raw {raw}, outside "
                                  f"{kind} [{lo}, {hi}]")
            raw = min(hi, max(lo, raw))
        if sign != "twos" and raw < 0:
            raw = top - raw if sign == "offset" else top | -raw
    packed = struct.pack(_FORMATS[kind], raw)
    if len(packed) == 4:
        packed = order_bytes(packed, channel.get("order", "ABCD"))
    return list(struct.unpack(f">{len(packed) // 2}H", packed))


def _default_decimals(channel: dict) -> int:
    """Most decimals (up to 2) at which the top of the channel's range still fits its type."""
    for d in range(DEFAULT_DECIMALS, -1, -1):
        try:
            encode(channel, channel["range"][1], d)
            return d
        except EncodeError:
            continue
    return 0


class ModbusSlave:
    """One simulated transmitter at one address: the catalog register map, live or pinned."""

    def __init__(self, model: dict, address: int, source: Source | None = None) -> None:
        if model.get("bus") != "modbus":
            raise ValueError(f"model {model.get('model')!r} is not a Modbus model")
        if not 1 <= address <= 247:
            raise ValueError(f"{model['model']}: slave address {address} is not 1..247")
        self.model = model
        self.name = model["model"]
        self.address = address
        self.function = model["modbus"]["function"]
        self.reads = Reads(model)  # blocks, their functions, silence on unmapped registers
        self.actions = Actions(model)  # start/trigger actions before a measurement
        self.setup = SetUp(model, model["serial"]["baud"]) \
            if "setup" in model["modbus"] else None
        self.channels = {ch["param"]: ch for ch in model["channels"]}
        self.source: Source = source or signals.source(medium=signals.medium_for(self.channels))
        self.decimals = {p: _default_decimals(ch) for p, ch in self.channels.items()
                         if "decimals_register" in ch}
        self.pinned: dict[str, float] = {}
        self.error_codes: dict[str, int] = {}  # param -> the code its error register shows
        self.faults: Faults | None = None  # hil.faults.FaultSet: value and wire faults
        self.requests = 0  # requests addressed to us with a good CRC
        self.exceptions = 0
        self._lock = threading.Lock()
        # register -> (param, word index), (param, -1) for a decimals register or (param, -2)
        # for an error register
        self._map: dict[int, tuple[str, int]] = {}
        base = model["modbus"].get("numbering", 0)  # a manual's 4xxxx numbers: PDU = n - base
        for p, ch in self.channels.items():
            if "sound" in model and ch is not model["channels"][0]:
                continue  # a sound meter's six channels read its one level register
            for i in range(words(ch)):
                self._claim(ch["register"] - base + i, (p, i))
            if "decimals_register" in ch:
                self._claim(ch["decimals_register"] - base, (p, -1))
            if "error_register" in ch:
                self._claim(ch["error_register"] - base, (p, -2))
        # what a read may cover: each block (modbus.blocks), else the channels' one span;
        # registers in it that no channel uses read 0, as the manual's other registers do
        self._spans = [(lo, hi) for _, lo, hi in self.reads.blocks] or \
            [(min(self._map), max(self._map) + 1)]

    def _claim(self, reg: int, slot: tuple[str, int]) -> None:
        if reg in self._map:
            raise ValueError(f"{self.name}: register {reg} is used by both "
                             f"{self._map[reg][0]} and {slot[0]}")
        self._map[reg] = slot

    def __repr__(self) -> str:
        return f"ModbusSlave({self.name!r}, address={self.address})"

    @property
    def params(self) -> list[str]:
        return list(self.channels)

    def pin(self, param: str, value: float) -> None:
        """Report exactly value for param (as far as its register type resolves it)."""
        ch = self._channel(param)
        if "sound" in self.model and ch is not self.model["channels"][0]:
            first = self.model["channels"][0]["param"]
            raise KeyError(f"{self.name} has one level register: pin {first!r} (the level "
                           f"the station reads every second), not {param!r}")
        encode(ch, value, self.decimals.get(param, 0))  # refuse what the wire cannot carry
        with self._lock:
            self.pinned[param] = float(value)

    def set_error(self, param: str, code: int) -> None:
        """Show `code` in param's error register (0 clears it), as the transmitter reports a
        fault of its own (a fouled optic, a stuck wiper) while still answering."""
        mask = self._channel(param).get("error_mask", 0xFFFF)
        if "error_register" not in self._channel(param):
            raise KeyError(f"{self.name}: {param} has no error register")
        shift = (mask & -mask).bit_length() - 1
        if not 0 <= code << shift <= mask or (code << shift) & ~mask:
            raise ValueError(f"{self.name}: error code {code} does not fit mask {mask:#06x}")
        with self._lock:
            self.error_codes[param] = code << shift

    def unpin(self, param: str | None = None) -> None:
        with self._lock:
            if param is None:
                self.pinned.clear()
            else:
                self.pinned.pop(param, None)

    def value(self, param: str) -> float:
        """What the transmitter measures now: the pinned value, else the source within range;
        then its value faults, if any (a transmitter saturates at the ends of its range; the
        `unavailable` fault gives NaN: no value)."""
        ch = self._channel(param)
        lo, hi = ch["range"]
        with self._lock:
            pinned = self.pinned.get(param)
        v = min(hi, max(lo, float(self.source(param)))) if pinned is None else pinned
        if self.faults is not None:
            faulty = self.faults.value(param, v)
            if faulty != v:
                v = faulty if math.isnan(faulty) else min(hi, max(lo, faulty))
        return v

    def values(self) -> dict[str, float]:
        return {p: self.value(p) for p in self.channels}

    def registers(self, address: int, count: int) -> list[int]:
        """The words a read of count registers from address returns; ModbusError 02 for a gap.

        A channel without a value (before its start action, or under the `unavailable` fault)
        sends its sentinel (NaN, its `unavailable` raw value), else its error register shows
        the lowest bit of its mask, else the read gets exception 04."""
        if not 1 <= count <= rtu.MAX_READ_COUNT:
            raise rtu.ModbusError(rtu.ILLEGAL_DATA_VALUE, f"count {count} is not 1..125")
        missing = [r for r in range(address, address + count)
                   if not any(lo <= r < hi for lo, hi in self._spans)]
        if missing:
            raise rtu.ModbusError(rtu.ILLEGAL_DATA_ADDRESS,
                                  f"{self.name} has no register {missing[0]}")
        measured = self.actions.ready()
        encoded: dict[str, list[int]] = {}
        void: set[str] = set()
        for param in dict.fromkeys(self._map[r][0] for r in range(address, address + count)
                                   if r in self._map):
            ch = self.channels[param]
            try:
                v = self.value(param) if measured else math.nan
            except Exception as e:  # a source failure is a device failure, not a crash
                raise rtu.ModbusError(rtu.SLAVE_DEVICE_FAILURE, f"{param}: {e}") from e
            if math.isnan(v):  # its own error register says so first, else its sentinel
                void.add(param)
                words_ = None if "error_register" in ch else sentinel(ch, order_bytes)
                if words_ is None and "error_register" not in ch:
                    raise rtu.ModbusError(rtu.SLAVE_DEVICE_FAILURE, f"{param}: no value")
                if words_ is not None:
                    encoded[param] = words_
                    continue
                v = ch["range"][0]
            encoded[param] = encode(ch, v, self.decimals.get(param, 0), saturate=True)
        out = []
        for reg in range(address, address + count):
            if reg not in self._map:
                out.append(0)  # a register the manual lists for something not read here
                continue
            param, word = self._map[reg]
            if word == -2:
                mask = self.channels[param].get("error_mask", 0xFFFF)
                code = self.error_codes.get(param, 0)
                out.append(code or (mask & -mask if param in void else 0))
            elif word < 0:
                out.append(self.decimals[param])
            else:
                out.append(encoded[param][word])
        return out

    def write_register(self, address: int, value: int, function: int = rtu.WRITE_SINGLE
                       ) -> None:
        """Writable: the maker's set-up registers (`modbus.setup`: address, baud, unlock,
        save, with its write function) and decimal-point registers (0..4, function 06)."""
        if self.setup is not None and self.setup.handles(address, value):
            self._apply(self.setup.write(function, address, value))
            return
        slot = self._map.get(address)
        if slot is None or slot[1] != -1 or function != rtu.WRITE_SINGLE:
            raise rtu.ModbusError(rtu.ILLEGAL_DATA_ADDRESS,
                                  f"{self.name} register {address} is not writable")
        if not 0 <= value <= MAX_DECIMALS:
            raise rtu.ModbusError(rtu.ILLEGAL_DATA_VALUE, f"decimals {value} is not 0..4")
        with self._lock:
            self.decimals[slot[0]] = value

    def _apply(self, settings: dict[str, int]) -> None:
        if "address" in settings:
            self.address = settings["address"]
        if "baud" in settings and self.setup is not None:
            self.setup.baud = settings["baud"]

    def start(self) -> None:
        """As if the master had sent every start/trigger action long enough ago (for code
        that reads `registers()` directly, without a master on a wire)."""
        for a in self.actions.actions:
            self.actions.match(a["function"], a["register"], a.get("count", 0),
                               a.get("values"))
        self.actions.age()

    def power_cycle(self) -> None:
        """Off and on: settings waiting for a restart apply, start actions are needed again."""
        if self.setup is not None:
            self._apply(self.setup.power_cycle())
        self.actions.forget()

    def handle(self, request: rtu.Request) -> bytes | None:
        """The reply frame for a request to this address (None: stay silent)."""
        broadcast = request.slave == 0
        if request.slave != self.address and not broadcast:
            return None
        self.requests += 1
        old = self.address  # a write's echo comes from the old address, then it moves
        try:
            fn = request.function
            if fn in (rtu.READ_HOLDING, rtu.READ_INPUT) and not broadcast:
                return self._read(request)
            if fn == rtu.WRITE_SINGLE:
                self.write_register(request.address, request.value)
                return None if broadcast else rtu.write_single_reply(
                    old, request.address, request.value)
            if fn == WRITE_MULTIPLE and len(request.data) >= 7:
                first, qty, nbytes = struct.unpack(">HHB", request.data[:5])
                values = list(struct.unpack(f">{nbytes // 2}H", request.data[5:5 + nbytes]))
                if not self.actions.match(fn, first, qty, values):
                    if qty != 1:
                        raise rtu.ModbusError(rtu.ILLEGAL_DATA_ADDRESS,
                                              f"{self.name}: no block write at {first}")
                    self.write_register(first, values[0], fn)
                return None if broadcast else rtu.with_crc(
                    struct.pack(">BBHH", old, fn, first, qty))
            raise rtu.ModbusError(rtu.ILLEGAL_FUNCTION,
                                  f"{self.name} does not support function {request.function}")
        except rtu.ModbusError as e:
            self.exceptions += 1
            silent = self.reads.silent and e.code == rtu.ILLEGAL_DATA_ADDRESS
            return None if broadcast or silent else rtu.exception_reply(
                self.address, request.function, e.code)

    def _read(self, request: rtu.Request) -> bytes:
        fn, first, count = request.function, request.address, request.count
        if count == 0 and self.actions.match(fn, first, 0):
            return rtu.read_reply(self.address, fn, [])  # a start: "01 03 00" and a CRC
        if fn not in self.reads.functions():
            raise rtu.ModbusError(rtu.ILLEGAL_FUNCTION, f"{self.name} does not read with {fn}")
        words_ = self.registers(first, count)  # 02 for a gap, before the block's function
        if not self.reads.allowed(fn, first, count):
            raise rtu.ModbusError(rtu.ILLEGAL_FUNCTION,
                                  f"{self.name} reads {first}..{first + count - 1} with another "
                                  "function")
        self.actions.match(fn, first, count)  # a read that is itself an action (wake-up)
        return rtu.read_reply(self.address, fn, words_)

    def _channel(self, param: str) -> dict:
        try:
            return self.channels[param]
        except KeyError:
            raise KeyError(f"{self.name} has no channel {param!r}; it has "
                           f"{', '.join(self.channels)}") from None

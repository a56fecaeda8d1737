"""RS-485 sensors checked from the laptop before they are wired to a board: a USB-RS485 adapter
and minimalmodbus (a Modbus master nobody here wrote, so our catalog is checked against an
independent decoder).

`scan` finds who answers at which address and speed (an exception reply counts: something is
there), `read` decodes every channel of a catalog model, `identify` says which models a slave's
registers are consistent with, `set_up` follows the maker's address and baud procedure the
catalog holds (`modbus.setup`, boards/setup_procedure.py: unlock, the ID maybe in the high byte,
FC06 or FC16, a baud code, save) and checks the sensor answers where it now should.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import minimalmodbus
import serial

import boards
from boards import setup_procedure

BAUDS = (2400, 4800, 9600, 19200, 38400, 57600, 115200)
ORDERS = {"ABCD": minimalmodbus.BYTEORDER_BIG, "CDAB": minimalmodbus.BYTEORDER_LITTLE_SWAP,
          "BADC": minimalmodbus.BYTEORDER_BIG_SWAP, "DCBA": minimalmodbus.BYTEORDER_LITTLE}
TIMEOUT_S = 0.15  # a 9600-baud reply of a few registers is back in well under this


class ProbeError(RuntimeError):
    """The port, the model or the sensor's answer is not what was asked for (names which)."""


@dataclass(frozen=True)
class Answer:
    address: int
    baud: int
    function: int
    reply: str  # "registers" or the exception the slave sent


@dataclass(frozen=True)
class Reading:
    param: str
    value: float | None
    unit: str
    low: float
    high: float
    why: str = ""

    @property
    def in_range(self) -> bool:
        return self.value is not None and self.low <= self.value <= self.high


def model(name: str) -> dict:
    """A catalog model by name, or a model file (`path/to/<model>.json`) tried before it is
    copied into boards/catalog."""
    if name.endswith(".json"):
        try:
            m = boards.model_file(name)
        except boards.BoardsError as e:
            raise ProbeError(str(e)) from None
    else:
        m = boards.catalog().get(name)
    if m is None:
        raise ProbeError(f"model {name!r} is not in boards/catalog "
                         f"(known: {', '.join(sorted(boards.catalog()))})")
    if m["bus"] != "modbus":
        raise ProbeError(f"model {name!r} streams frames on its own UART; it has no Modbus "
                         "address to probe")
    return m


class Line:
    """One serial port with a Modbus master on it; speed and framing changeable between calls."""

    def __init__(self, port: str, baud: int = 9600, parity: str = "N", stop: int = 1,
                 timeout_s: float = TIMEOUT_S) -> None:
        try:
            self.serial = serial.Serial(port, baudrate=baud, parity=parity, stopbits=stop,
                                        bytesize=8, timeout=timeout_s, write_timeout=2.0)
        except (serial.SerialException, ValueError) as e:
            raise ProbeError(f"{port}: cannot open the adapter ({e})") from None
        self.port = port

    def __enter__(self) -> Line:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.serial.close()

    def slave(self, address: int, baud: int | None = None) -> minimalmodbus.Instrument:
        if not 1 <= address <= 247:
            raise ProbeError(f"address {address} is not 1..247")
        if baud:
            self.serial.baudrate = baud
        inst = minimalmodbus.Instrument(self.serial, address)
        inst.clear_buffers_before_each_transaction = True
        return inst

    def knock(self, address: int, baud: int, functions: Iterable[int] = (3, 4),
              register: int = 0) -> Answer | None:
        """Whether anything answers at this address and speed (registers or an exception)."""
        inst = self.slave(address, baud)
        for fn in functions:
            try:
                inst.read_register(register, 0, functioncode=fn)
                return Answer(address, baud, fn, "registers")
            except minimalmodbus.SlaveReportedException as e:
                return Answer(address, baud, fn, f"exception: {e}")
            except minimalmodbus.InvalidResponseError as e:
                return Answer(address, baud, fn, f"garbled reply: {e}")
            except minimalmodbus.NoResponseError:
                continue
        return None


def scan(line: Line, addresses: Iterable[int], bauds: Iterable[int],
         functions: Iterable[int] = (3, 4), register: int = 0,
         seen: Callable[[Answer], None] | None = None) -> list[Answer]:
    found = []
    for baud in bauds:
        for address in addresses:
            answer = line.knock(address, baud, tuple(functions), register)
            if answer:
                found.append(answer)
                if seen:
                    seen(answer)
    return found


def _channel(inst: minimalmodbus.Instrument, ch: dict, fn: int) -> float:
    kind, order, reg = ch["type"], ch.get("order", "ABCD"), ch["register"]
    if kind == "float32":
        raw = inst.read_float(reg, fn, 2, byteorder=ORDERS[order])
    elif kind in ("int32", "uint32"):
        raw = inst.read_long(reg, fn, signed=kind == "int32", byteorder=ORDERS[order])
    else:
        (word,) = inst.read_registers(reg, 1, fn)
        if order in ("BADC", "DCBA"):  # 16-bit values with swapped bytes
            word = struct.unpack("<H", struct.pack(">H", word))[0]
        raw = word - 0x10000 if kind == "int16" and word & 0x8000 else word
    if "decimals_register" in ch:
        raw = raw / 10 ** inst.read_register(ch["decimals_register"], 0, functioncode=fn)
    return raw * ch.get("scale", 1) + ch.get("offset", 0)


def read(line: Line, model_name: str, address: int | None = None,
         baud: int | None = None) -> list[Reading]:
    """Every channel of `model_name` from the slave at `address` (default: the model's)."""
    m = model(model_name)
    mb = m["modbus"]
    inst = line.slave(address or mb["default_address"], baud or m["serial"]["baud"])
    start(line, inst, m)
    out = []
    for ch in m["channels"]:
        lo, hi = ch["range"]
        try:
            code = _error_code(inst, ch, mb["function"])
            if code:
                out.append(Reading(ch["param"], None, ch["unit"], lo, hi,
                                   why=f"the transmitter reports error code {code:#06x} in "
                                       f"register {ch['error_register']}"))
                continue
            out.append(Reading(ch["param"], _channel(inst, ch, mb["function"]), ch["unit"],
                               lo, hi))
        except minimalmodbus.ModbusException as e:
            out.append(Reading(ch["param"], None, ch["unit"], lo, hi, why=str(e)))
    return out


def _crc(body: bytes) -> bytes:
    crc = 0xFFFF
    for b in body:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def start(line: Line, inst: minimalmodbus.Instrument, m: dict) -> None:
    """The model's start/trigger actions (`modbus.before_read`), as the station sends them
    before a read: a transmitter that waits for them has no value until then. A read of 0
    registers goes out as raw bytes (minimalmodbus refuses it); a missing answer is fine."""
    base = m["modbus"].get("numbering", 0)
    for a in m["modbus"].get("before_read", []):
        reg = a["register"] - base
        try:
            if a["function"] == 16:
                inst.write_registers(reg, list(a["values"]))
            elif a.get("count", 0) == 0:
                body = struct.pack(">BBHH", inst.address, a["function"], reg, 0)
                line.serial.reset_input_buffer()
                line.serial.write(body + _crc(body))
                line.serial.read(5)  # "addr fn 00" and a CRC, or nothing
            else:
                inst.read_registers(reg, a["count"], a["function"])
        except minimalmodbus.ModbusException:
            pass  # the reads that follow say whether the sensor measures
        time.sleep(a.get("wait_ms", 0) / 1000)


def _error_code(inst: minimalmodbus.Instrument, ch: dict, fn: int) -> int:
    """The channel's error register under its mask (0: no error, or no such register)."""
    if "error_register" not in ch:
        return 0
    return inst.read_register(ch["error_register"], 0, functioncode=fn) & \
        ch.get("error_mask", 0xFFFF)


def _fits(inst: minimalmodbus.Instrument, m: dict) -> bool:
    for ch in m["channels"]:  # the first channel that fails rules the model out
        try:
            value = _channel(inst, ch, m["modbus"]["function"])
        except minimalmodbus.ModbusException:
            return False
        if not ch["range"][0] <= value <= ch["range"][1]:
            return False
    return True


def identify(line: Line, address: int, baud: int) -> list[str]:
    """Catalog models whose every register reads at this address with values in range."""
    inst = line.slave(address, baud)
    fits = [name for name, m in sorted(boards.catalog().items())
            if m["bus"] == "modbus" and _fits(inst, m)]
    # A model with more registers that all fit says more than one whose few registers happen
    # to; registers, not channels: a sound meter's six levels all come from one register.
    return sorted(fits, key=lambda n: -len({ch["register"]
                                            for ch in boards.catalog()[n]["channels"]}))


@dataclass(frozen=True)
class SetUp:
    sent: list[setup_procedure.Write]
    address: int  # where the sensor answers once the change took effect
    baud: int
    takes_effect: str  # write, save or restart (then the readings are empty)
    readings: list[Reading]


def set_up(line: Line, model_name: str, address: int | None, new_address: int | None = None,
           new_baud: int | None = None, baud: int | None = None) -> SetUp:
    """Follow the model's procedure to give its sensor `new_address` and/or `new_baud`.

    `address` None sends it to the model's broadcast address (a sensor alone on the line).
    Each write goes where the sensor listens by then: with `takes_effect` "write" a new
    address answers the next write and a new speed carries it; with "save" everything goes
    to the old address and speed until the save; with "restart" nothing changes before a
    power cycle, so nothing is read back."""
    m = model(model_name)
    try:
        writes = setup_procedure.plan(m, new_address, new_baud)
    except boards.BoardsError as e:
        raise ProbeError(str(e)) from None
    if address is not None and not 1 <= address <= 247:
        raise ProbeError(f"address {address} is not 1..247")
    target = address
    if target is None:
        target = setup_procedure.broadcast(m)
        if target is None:
            raise ProbeError(f"{model_name} has no broadcast set-up address (modbus.setup."
                             "broadcast): give the sensor's current address (--from)")
    effect = setup_procedure.takes_effect(m)
    speed = baud or m["serial"]["baud"]
    for w in writes:
        _send(line, target, speed, w)
        if effect == "write" and w.what == "address":
            target = new_address
        elif effect == "write" and w.what == "baud":
            speed = new_baud
    final_address = new_address if new_address is not None else target
    final_baud = new_baud or speed
    readings: list[Reading] = []
    if effect != "restart" and final_address != 0:  # a broadcast speed change: no one to ask
        readings = read(line, model_name, final_address, final_baud)
        if not any(r.value is not None for r in readings):
            raise ProbeError(f"the sensor took the writes but does not answer at address "
                             f"{final_address}, {final_baud} baud (power-cycle it and read "
                             "again): " + "; ".join(r.why for r in readings))
    return SetUp(writes, final_address, final_baud, effect, readings)


def _send(line: Line, address: int, baud: int, w: setup_procedure.Write) -> None:
    line.serial.baudrate = baud
    inst = minimalmodbus.Instrument(line.serial, address)  # 0 or 248..255 allowed here
    inst.clear_buffers_before_each_transaction = True
    try:
        if w.function == 16:
            inst.write_registers(w.register, [w.value])
        else:
            inst.write_register(w.register, w.value, 0, functioncode=6)
    except minimalmodbus.SlaveReportedException as e:
        raise ProbeError(f"the sensor at {address} refused the {w.what} write (function "
                         f"{w.function:02d}, register {w.register}, value {w.value}): {e}"
                         ) from None
    except minimalmodbus.NoResponseError:
        raise ProbeError(f"nothing answered the {w.what} write at address {address}, {baud} "
                         "baud; scan first") from None


def set_address(line: Line, model_name: str, address: int, new: int,
                baud: int | None = None) -> list[Reading]:
    """Give the sensor at `address` the slave address `new`; the readings taken there."""
    return set_up(line, model_name, address, new, baud=baud).readings

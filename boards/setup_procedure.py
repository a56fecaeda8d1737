"""Vendor address and baud procedures (sensor-maps.md §6.4) as catalog data: `modbus.setup`.

Every maker changes a transmitter's slave address and speed its own way: the register, the
write function (Yosemitech takes FC16 only), where the ID sits in the word (Yosemitech: the
high byte), a baud code table or the literal rate, an unlock before and a save after, a
broadcast address a sensor alone on the line obeys, and when the change takes effect. This
module checks those keys and turns a request ("address 7, 19200 baud") into the writes to
send, in order; `quantrac sensor set-address` sends them (quantrac/field/probe.py).

    "setup": {
      "function": 6,                                   # 6 (default) or 16 for every write
      "address": {"register": 257, "byte": "word"},    # "high": {newID, 0x00}
      "baud": {"register": 81, "codes": {"2400": 0, "9600": 1}}   # or {"register", "divisor"}
      "unlock": [{"register": 79, "value": 9876}],     # written first
      "save": [{"register": 15, "value": 1}],          # written last
      "broadcast": 0,                                  # 0 or 248..255: a lone sensor obeys it
      "takes_effect": "write"                          # "write", "save" or "restart"
    }

Registers are numbered as the model's manual numbers them (`modbus.numbering`), like its
channels; the writes carry PDU addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

from boards import BoardsError

KEYS = ("function", "address", "baud", "unlock", "save", "broadcast", "takes_effect")
EFFECTS = ("write", "save", "restart")
BYTES = ("word", "high")


@dataclass(frozen=True)
class Write:
    what: str  # unlock, address, baud or save
    function: int  # 6 (write single) or 16 (write multiple, one register)
    register: int  # PDU address
    value: int


def _int(v: object, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise BoardsError(f"{where}: {msg}")


def _register(entry: object, base: int, where: str) -> None:
    reg = entry.get("register") if isinstance(entry, dict) else entry
    _need(isinstance(entry, dict) and _int(reg, base, base + 0xFFFF), where + ".register",
          f"{reg!r} is not a register {base}..{base + 0xFFFF} (modbus.numbering {base})")


def check(m: dict, where: str) -> None:
    """Refuse a `modbus.setup` the set-up could not follow, naming the file and the key."""
    _need("address_register" not in m.get("modbus", {}), f"{where}: modbus.address_register",
          "is modbus.setup.address.register now, beside the rest of the maker's procedure")
    setup = m.get("modbus", {}).get("setup")
    if setup is None:
        return
    w = f"{where}: modbus.setup"
    _need(isinstance(setup, dict), w, "must be an object")
    unknown = sorted(set(setup) - set(KEYS))
    _need(not unknown, f"{w}.{unknown[0] if unknown else ''}",
          f"unknown key (known: {', '.join(KEYS)})")
    base = m["modbus"].get("numbering", 0)
    _need(setup.get("function", 6) in (6, 16) and not isinstance(setup.get("function"), bool),
          w + ".function", f"{setup.get('function')!r} is not 6 or 16")
    _need("address" in setup or "baud" in setup, w,
          "names an address or a baud procedure (address, baud)")
    if "address" in setup:
        _register(setup["address"], base, w + ".address")
        byte = setup["address"].get("byte", "word")
        _need(byte in BYTES, w + ".address.byte", f"{byte!r} is not one of {', '.join(BYTES)}")
    if "baud" in setup:
        baud = setup["baud"]
        _register(baud, base, w + ".baud")
        _need(("codes" in baud) != ("divisor" in baud), w + ".baud",
              "gives either codes (a table) or divisor (the rate / divisor is written)")
        if "codes" in baud:
            codes = baud["codes"]
            _need(isinstance(codes, dict) and codes and all(
                k.isdigit() and _int(int(k), 300, 1000000) and _int(v, 0, 0xFFFF)
                for k, v in codes.items()), w + ".baud.codes",
                f"{codes!r} is not a table of baud rate -> register value 0..65535")
        else:
            _need(_int(baud["divisor"], 1, 100000), w + ".baud.divisor",
                  f"{baud['divisor']!r} is not 1..100000")
    for key in ("unlock", "save"):
        writes = setup.get(key, [])
        _need(isinstance(writes, list), f"{w}.{key}", "must be a list")
        for j, entry in enumerate(writes):
            _register(entry, base, f"{w}.{key}[{j}]")
            _need(_int(entry.get("value"), 0, 0xFFFF), f"{w}.{key}[{j}].value",
                  f"{entry.get('value')!r} is not a register word 0..65535")
    bc = setup.get("broadcast")
    _need(bc is None or (_int(bc, 0, 255) and (bc == 0 or bc >= 248)), w + ".broadcast",
          f"{bc!r} is not 0 or a vendor broadcast address 248..255")
    effect = setup.get("takes_effect", "write")
    _need(effect in EFFECTS, w + ".takes_effect",
          f"{effect!r} is not one of {', '.join(EFFECTS)}")
    _need(effect != "save" or setup.get("save"), w + ".takes_effect",
          "'save' needs the save writes (setup.save)")


def bauds(m: dict) -> list[int] | None:
    """The speeds a model's baud procedure can set (None: any the divisor divides)."""
    baud = m.get("modbus", {}).get("setup", {}).get("baud")
    if baud is None:
        return []
    return sorted(int(k) for k in baud["codes"]) if "codes" in baud else None


def plan(m: dict, address: int | None = None, baud: int | None = None) -> list[Write]:
    """The writes that give the model's sensor `address` and/or `baud`, in order: unlock,
    address, baud, save. BoardsError names what the model's procedure cannot do."""
    name = m.get("model", "?")
    setup = m.get("modbus", {}).get("setup")
    if setup is None:
        raise BoardsError(f"{name}: the catalog holds no address or baud procedure for this "
                          "model (modbus.setup); set it with the maker's tool or its switches")
    if address is None and baud is None:
        raise BoardsError(f"{name}: give a new address or a new baud rate")
    base = m["modbus"].get("numbering", 0)
    fn = setup.get("function", 6)
    out = [Write("unlock", fn, u["register"] - base, u["value"]) for u in setup.get("unlock", [])]
    if address is not None:
        if "address" not in setup:
            raise BoardsError(f"{name}: the catalog holds no address procedure for this model "
                              "(modbus.setup.address)")
        if not _int(address, 1, 247):
            raise BoardsError(f"{name}: address {address!r} is not 1..247")
        a = setup["address"]
        value = address << 8 if a.get("byte", "word") == "high" else address
        out.append(Write("address", fn, a["register"] - base, value))
    if baud is not None:
        b = setup.get("baud")
        if b is None:
            raise BoardsError(f"{name}: the catalog holds no baud procedure for this model "
                              "(modbus.setup.baud); it runs at its fixed "
                              f"{m.get('serial', {}).get('baud', 9600)} baud")
        if "codes" in b:
            if str(baud) not in b["codes"]:
                raise BoardsError(f"{name}: {baud} baud is not in its code table (it can be "
                                  f"set to {', '.join(sorted(b['codes'], key=int))})")
            value = b["codes"][str(baud)]
        else:
            value, rest = divmod(baud, b["divisor"])
            if rest or not _int(value, 1, 0xFFFF):
                raise BoardsError(f"{name}: {baud} baud cannot be written as rate / "
                                  f"{b['divisor']} in one register")
        out.append(Write("baud", fn, b["register"] - base, value))
    out += [Write("save", fn, s["register"] - base, s["value"]) for s in setup.get("save", [])]
    return out


def takes_effect(m: dict) -> str:
    return m["modbus"].get("setup", {}).get("takes_effect", "write")


def broadcast(m: dict) -> int | None:
    return m["modbus"].get("setup", {}).get("broadcast")

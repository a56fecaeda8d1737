# Register words -> numbers: int16/uint16/int32/uint32/float32 in four word orders, then
# scale, offset and a decimal-point register; an error register (bits under a mask) voids it.
#
# Word orders use Telegraf's vocabulary: the letters name the value's big-endian bytes
# A B C D in the order they arrive on the wire. ABCD big-endian, CDAB word-swapped (cheap
# transmitters), BADC bytes swapped in each word, DCBA little-endian. For 16-bit types only the
# byte swap matters: BADC and DCBA read the two bytes as B A.

import struct

# Names as one string each (.split() gives the list): as a tuple, every name would be a
# 32-byte str object on the heap for as long as this module lives, and only the boot looks
# them up.
TYPES = "int16 uint16 int32 uint32 float32"
ORDERS = "ABCD CDAB BADC DCBA"
WIDTH = (1, 1, 2, 2, 2)  # registers per type, by index in TYPES
# Wire offset of value bytes A, B, C, D per order; each permutation is its own inverse.
_WIRE = (b"\x00\x01\x02\x03", b"\x02\x03\x00\x01", b"\x01\x00\x03\x02", b"\x03\x02\x01\x00")
_POW10 = (1, 10, 100, 1000, 10000, 100000, 1000000)
_F32_MAX = 3.4028235e38
_f32 = bytearray(4)  # reordered float bytes; one buffer, so decoding allocates no bytearray


def raw(buf, off, t, order):
    """The register value whose wire bytes start at buf[off]; t, order index TYPES, ORDERS."""
    if t < 2:
        if order >= 2:
            v = buf[off + 1] << 8 | buf[off]
        else:
            v = buf[off] << 8 | buf[off + 1]
        if t == 0 and v & 0x8000:
            v -= 0x10000
        return v
    w = _WIRE[order]
    if t == 4:
        f = _f32
        f[0] = buf[off + w[0]]
        f[1] = buf[off + w[1]]
        f[2] = buf[off + w[2]]
        f[3] = buf[off + w[3]]
        return struct.unpack_from(">f", f, 0)[0]
    v = buf[off + w[0]] << 24 | buf[off + w[1]] << 16 | buf[off + w[2]] << 8 | buf[off + w[3]]
    if t == 2 and v & 0x80000000:
        v -= 0x100000000
    return v


def scaled(value, scale, offset, dec):
    """value * scale / 10**dec + offset, or None when value is NaN/inf or dec is not 0..6."""
    if not -_F32_MAX <= value <= _F32_MAX:  # NaN fails every comparison
        return None
    if dec:
        if dec < 0 or dec >= len(_POW10):
            return None
        return value * scale / _POW10[dec] + offset
    if scale == 1 and offset == 0:
        return value
    return value * scale + offset


def places_of(scale):
    """Decimal places a reading scaled by `scale` can carry (0.1 -> 1, 0.001 -> 3, 2 -> 0)."""
    p = 0
    s = abs(scale)
    while p < 4 and abs(s - round(s)) > 1e-6 * max(1, s):
        s *= 10
        p += 1
    return p


class Channel:
    """One configured value of a device: how to decode it, its current resolution, its range.

    k (its record column, -1: not recorded) and dev (its device) are set by
    station/assemble.py, which also lets go of rng (low, high, unit) once the layout and the
    windows hold it. The unit rides in rng: six attributes fit a dict of six slots, a seventh
    takes eight (32 B more a channel)."""

    def __init__(self, cfg, base):
        self.param = cfg["param"]
        r = cfg["range"]
        self.rng = (r[0], r[1], cfg["unit"])
        self.k = -1
        self.dev = None
        t = TYPES.split().index(cfg["type"]) if "type" in cfg else 0
        scale = cfg.get("scale", 1)
        base_places = places_of(scale) if t < 4 else -1
        dec_reg = cfg.get("dec_reg", -1)
        err_reg = cfg.get("err_reg", -1)
        # how to decode, in one tuple: type, word order, byte offset in the register block,
        # offset of the decimal-point register (-1: none), scale, offset, resolution, offset
        # of the error register (-1: none) and its mask. As nine attributes they would grow
        # every channel's dict from 8 slots to 17 (~150 B more).
        o = ORDERS.split().index(cfg.get("order", "ABCD"))
        self.how = (t, o, (cfg.get("reg", base) - base) * 2,
                    (dec_reg - base) * 2 if dec_reg >= 0 else -1, scale, cfg.get("offset", 0),
                    base_places, (err_reg - base) * 2 if err_reg >= 0 else -1,
                    cfg.get("err_mask", 0xFFFF))
        # -1 asks the encoder for 4 significant digits (a float carries no resolution of its own)
        self.places = base_places

    def decode(self, buf, off):
        """This channel's value from the register block at buf[off:], or None when undecodable
        or when the device flags it in its error register (a transmitter's own fault code)."""
        t, o, at, dec_at, scale, offset, base_places, err_at, err_mask = self.how
        if err_at >= 0 and (buf[off + err_at] << 8 | buf[off + err_at + 1]) & err_mask:
            return None
        dec = 0
        if dec_at >= 0:
            dec = buf[off + dec_at] << 8 | buf[off + dec_at + 1]
            if base_places >= 0:
                self.places = min(4, base_places + dec)
        return scaled(raw(buf, off + at, t, o), scale, offset, dec)

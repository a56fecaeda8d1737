# The rarer register encodings of real transmitters, loaded at boot only when a channel uses
# one (so the common station carries none of this code on its heap):
#
# - sign (config `signed`): 0 the type's own (two's complement for int16/int32, none for the
#   unsigned types); -1 sign-magnitude, the top bit is the sign (Aosong AM23xx); N > 0 an
#   offset, raw >= N means -(raw - N) (KinCony SHT30: 10250 = -25.0 degC at scale 0.1);
# - void (config `discard`): raw words that mean "unavailable", not a number (Vaisala 0x8000,
#   a disconnected probe's 0xFFFF), compared with the unsigned register value (for float32
#   the value itself: NaN is always void). With an error register, `discard` lists the codes
#   of that register (under err_mask) that void the value, instead of "any bit set".
# - unit code (config `code`: [register, [[code, factor], ...]]): a register naming the unit
#   the value is in (the QDY30A pressure transmitter's 0x0002: 0 MPa, 1 kPa, ...; Evikon's
#   0x0098): its code picks the factor to the channel's unit, read with every value, as the
#   transmitter may be re-set; a code not listed is "unavailable", never a number in a unit
#   nobody expected.
# (The config's names are ones MicroPython interns already: they cost no qstr.)

from values.decode import Channel, places_of, raw, scaled


class QuirkChannel(Channel):
    def __init__(self, cfg, base):
        Channel.__init__(self, cfg, base)
        self.sign = cfg.get("signed", 0)
        self.void = cfg.get("discard") or ()
        u = cfg.get("code")
        # (byte offset of the unit-code register, the codes, their factors, the factors'
        # decimal places)
        self.code = ((u[0] - base) * 2, [c for c, _ in u[1]], [f for _, f in u[1]],
                     [places_of(f) for _, f in u[1]]) if u else None
        if u and self.places >= 0:
            self.places = min(4, self.places + max(self.code[3]))

    def decode(self, buf, off):
        t, o, at, dec_at, scale, offset, base_places, err_at, err_mask = self.how
        void = self.void
        if err_at >= 0:
            code = (buf[off + err_at] << 8 | buf[off + err_at + 1]) & err_mask
            if (code in void) if void else code:
                return None
            void = ()
        sign = self.sign
        if t == 4:
            value = raw(buf, off + at, 4, o)
            if value in void:
                return None
        else:
            value = raw(buf, off + at, t | 1, o)  # the unsigned word(s) as they came
            if value in void:
                return None
            top = 0x8000 if t < 2 else 0x80000000
            if sign < 0:
                if value & top:
                    value = -(value & (top - 1))
            elif sign > 0:
                if value >= sign:
                    value = sign - value
            elif t == 0 or t == 2:
                if value & top:
                    value -= top << 1
        dec = 0
        if dec_at >= 0:
            dec = buf[off + dec_at] << 8 | buf[off + dec_at + 1]
            if base_places >= 0:
                self.places = min(4, base_places + dec)
        u = self.code
        if u is None:
            return scaled(value, scale, offset, dec)
        code = buf[off + u[0]] << 8 | buf[off + u[0] + 1]
        if code not in u[1]:
            return None
        i = u[1].index(code)
        if base_places >= 0:
            self.places = min(4, base_places + dec + u[3][i])
        value = scaled(value, scale, 0, dec)
        return None if value is None else value * u[2][i] + offset

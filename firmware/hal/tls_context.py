# The TLS client context, made once at boot from the station's files (station/boot.py), then
# this module is dropped: its code is not needed again while the station runs.

def _read(path):
    with open(path, "rb") as f:
        return f.read()


def context(folder):
    """A TLS client context from the station's files (`quantrac station credentials --tls`):
    our CA, which the broker's certificate must chain to, and the station's own certificate
    and key, which the broker's TLS listener requires."""
    import tls  # MicroPython >= 1.23's built-in (its `ssl` is a frozen wrapper around it)

    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = tls.CERT_REQUIRED
    ctx.load_verify_locations(_read(folder + "/ca.der"))
    ctx.load_cert_chain(_read(folder + "/client.der"), _read(folder + "/client.key.der"))
    return ctx

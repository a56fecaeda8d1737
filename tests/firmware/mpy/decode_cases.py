# Decodes register cases computed by CPython. argv[1]: one JSON case per line,
# {"type", "order", "wire" (hex of the register bytes), "scale", "offset", "dec_reg"?,
# "err_reg"?, "err_mask"?};
# prints one JSON line per case: the decoded value (null when undecodable).

import json
import sys
from binascii import unhexlify

from values.decode import Channel

with open(sys.argv[1]) as f:
    for line in f:
        c = json.loads(line)
        cfg = {"param": "x", "unit": "u", "reg": 0, "type": c["type"], "order": c["order"],
               "scale": c["scale"], "offset": c["offset"], "range": [0, 1]}
        for key in ("dec_reg", "err_reg", "err_mask"):
            if key in c:
                cfg[key] = c[key]
        print(json.dumps(Channel(cfg, 0).decode(unhexlify(c["wire"]), 0)))

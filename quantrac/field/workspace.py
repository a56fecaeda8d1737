"""A station's files on the technician's laptop: `<run folder>/field/<station id>/`.

```
config.json        what the board runs from (boards.firmware_config; no secrets in it)
secrets.json       the board's secrets, 0600: {"mqtt": {"password"}, "wifi": {"password"}}
tls/ca.der, tls/client.der, tls/client.key.der    when the station has TLS credentials
sheets/commission-<UTC time>.txt + .json            every commissioning run
```

On the board, `secrets.json` sits beside `config.json` and is merged over it key by key, so
config.json can be shown, diffed and pushed without exposing a password.
"""

from __future__ import annotations

import json
from pathlib import Path

from quantrac_common import paths
from quantrac_common.files import write_private

CONFIG = "config.json"
SECRETS = "secrets.json"
TLS = "tls"
SHEETS = "sheets"
BOARD_TLS = {"ca": "ca.der", "cert": "client.der", "key": "client.key.der"}


def station_dir(run_dir: Path | str | None, station_id: str) -> Path:
    return paths.run_dir(run_dir) / "field" / station_id


def write_secrets(directory: Path, password: str, wifi_password: str | None = None) -> Path:
    """secrets.json for the board (0600); a Wi-Fi password already there is kept unless given."""
    path = directory / SECRETS
    old = read_secrets(directory)
    doc: dict = {"mqtt": {"password": password}}
    wifi = wifi_password if wifi_password is not None else old.get("wifi", {}).get("password")
    if wifi:
        doc["wifi"] = {"password": wifi}
    write_private(path, json.dumps(doc, indent=1) + "\n")
    return path


def read_secrets(directory: Path) -> dict:
    try:
        doc = json.loads((directory / SECRETS).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{directory / SECRETS}: not JSON ({e})") from None
    return doc if isinstance(doc, dict) else {}


def write_client_tls(directory: Path, ca_der: bytes, cert_der: bytes, key_der: bytes) -> Path:
    d = directory / TLS
    d.mkdir(parents=True, exist_ok=True)
    (d / BOARD_TLS["ca"]).write_bytes(ca_der)
    (d / BOARD_TLS["cert"]).write_bytes(cert_der)
    write_private(d / BOARD_TLS["key"], key_der)
    return d


def write_config(directory: Path, config: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG
    path.write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def board_files(directory: Path) -> dict[str, Path]:
    """Board path → laptop file for the station's own files (config, secrets, TLS)."""
    out = {}
    for name in (CONFIG, SECRETS):
        if (directory / name).exists():
            out[name] = directory / name
    tls_dir = directory / TLS
    if tls_dir.is_dir():
        for name in sorted(BOARD_TLS.values()):
            if (tls_dir / name).exists():
                out[f"{TLS}/{name}"] = tls_dir / name
    return out

"""Firmware bundles for over-the-air updates: one versioned, signed blob of the app's .mpy
modules, what a station downloads in chunks and installs into its inactive slot.

Blob (what travels, chunk by chunk, and what `verify` and the station check):

    b"QFW1" | u32 BE manifest length | manifest (JSON) | u16 BE signature length | signature |
    every file's bytes, in the manifest's order

Manifest: {"v": 1, "ver": "0.2.0", "mpy": "1.22.0", "files": [[path, size, sha256 hex], ...]}
(sorted keys, no spaces). `mpy` is the lowest MicroPython the bundle runs on.

Signature: RSA-3072, PKCS#1 v1.5 over SHA-256 of the manifest bytes. Why RSA and not Ed25519:
verifying is one modular power with the exponent 65537 (17 multiplications of 3072-bit
integers), which MicroPython's built-in long integers and `pow(s, e, n)` do in a few lines and
a few KB of heap; Ed25519 or ECDSA in pure MicroPython needs hundreds of field operations per
point and its own code. Measured on the unix port (64-bit): about 5 ms a verification; an
ESP32 at 240 MHz does the same arithmetic with 16-bit digits, estimated 0.3-1.5 s (documented
estimate, no ESP32 here). The private key stays in the operations centre (`keygen`, 0600);
a station holds only the public modulus (`ota/key`, 384 bytes).

The loader (`main.py`, `slots.mpy`) is never part of a bundle: it chooses the slot at boot, as
a bootloader does, and is written only by `quantrac station flash`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from quantrac_common.files import write_private

MAGIC = b"QFW1"
KEY_BITS = 3072
MODULUS_BYTES = KEY_BITS // 8
LOADER = ("main.py", "slots.mpy")  # chooses the slot at boot; never in a bundle
MIN_MICROPYTHON = "1.22.0"
# A chunk is one retained MQTT message; the firmware refuses incoming messages over 2048 bytes
# (station/mqtt.py _MAX_INCOMING) and the broker packets over 131,072: 1536 stays below the
# first with room for a topic and header, and one chunk a loop turn keeps sampling going.
CHUNK_BYTES = 1536
# A slot must fit beside the 1 MiB backlog on a 4 MB DevKitC (2 MB filesystem): two slots of
# at most 256 KiB each.
SLOT_BYTES = 262_144
VERSION = re.compile(r"^\d{1,4}(\.\d{1,4}){1,3}$")


class BundleError(ValueError):
    """A bundle that cannot be made or must not be installed; the message says why."""


@dataclass(frozen=True)
class Bundle:
    manifest: dict
    manifest_bytes: bytes
    signature: bytes
    files: dict[str, bytes]
    blob: bytes

    @property
    def version(self) -> str:
        return self.manifest["ver"]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()


def version_tuple(ver: str) -> tuple[int, ...]:
    if not isinstance(ver, str) or not VERSION.match(ver):
        raise BundleError(f"version {ver!r}: must be numbers joined by dots, e.g. 0.2.0")
    return tuple(int(p) for p in ver.split("."))


# ---- keys -------------------------------------------------------------------------------------

def keygen(path: Path) -> Path:
    """A new signing key at `path` (PEM, 0600) and its public modulus beside it
    (`<path>.pub`, what a station holds as `ota/key`). Refuses to overwrite a key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if path.exists():
        raise BundleError(f"{path}: a signing key is already there; stations trust it, "
                          "so it is not replaced")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    pub = public_path(path)
    pub.write_bytes(key.public_key().public_numbers().n.to_bytes(MODULUS_BYTES, "big"))
    return pub


def public_path(key: Path) -> Path:
    return key.with_name(key.name + ".pub")


def _private_key(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: not a readable signing key ({e})") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != KEY_BITS:
        raise BundleError(f"{path}: must be an RSA-{KEY_BITS} key (quantrac firmware keygen)")
    return key


def sign(manifest_bytes: bytes, key: Path) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return _private_key(key).sign(manifest_bytes, padding.PKCS1v15(), hashes.SHA256())


# ---- bundles ----------------------------------------------------------------------------------

def make(build_folder: Path, version: str, key: Path,
         min_micropython: str = MIN_MICROPYTHON) -> Bundle:
    """The signed bundle of every file of a `quantrac firmware build` target folder but the
    loader."""
    version_tuple(version)
    version_tuple(min_micropython)
    if not build_folder.is_dir():
        raise BundleError(f"{build_folder}: no firmware build there (quantrac firmware build)")
    files = {p.relative_to(build_folder).as_posix(): p.read_bytes()
             for p in sorted(build_folder.rglob("*")) if p.is_file()}
    files = {k: v for k, v in files.items() if k not in LOADER}
    if not any(k.endswith(".mpy") for k in files):
        raise BundleError(f"{build_folder}: holds no .mpy modules")
    _fits_blocks(files)
    manifest = {"v": 1, "ver": version, "mpy": min_micropython,
                "files": [[k, len(v), hashlib.sha256(v).hexdigest()] for k, v in files.items()]}
    mb = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    sig = sign(mb, key)
    return assemble(mb, sig, files)


def _fits_blocks(files: dict[str, bytes]) -> None:
    """Refuse a bundle whose installed slot would take more filesystem blocks than a slot's
    budget on the smallest board: SLOT_BYTES counts bytes, but LittleFS gives each file over
    128 bytes whole 4 KiB blocks (a slot also holds its `version` file)."""
    import boards
    from boards import flash_layout

    budget = min(boards.pins(p.stem)["flash"]["app_slot_bytes"]
                 for p in sorted((flash_layout.HERE / "pins").glob("*.json")))
    blocks = flash_layout.fs_blocks({**{k: len(v) for k, v in files.items()}, "version": 16})
    if blocks * flash_layout.FS_BLOCK > budget:
        raise BundleError(
            f"the bundle's {len(files)} files take {blocks} filesystem blocks of "
            f"{flash_layout.FS_BLOCK} bytes installed ({blocks * flash_layout.FS_BLOCK} bytes), "
            f"more than a slot's budget ({budget} bytes, boards/pins app_slot_bytes): fewer or "
            "larger files")


def assemble(manifest_bytes: bytes, signature: bytes, files: dict[str, bytes]) -> Bundle:
    blob = b"".join([MAGIC, struct.pack(">I", len(manifest_bytes)), manifest_bytes,
                     struct.pack(">H", len(signature)), signature, *files.values()])
    if len(blob) > SLOT_BYTES:
        raise BundleError(f"bundle of {len(blob)} bytes exceeds a slot ({SLOT_BYTES})")
    return Bundle(json.loads(manifest_bytes), manifest_bytes, signature, dict(files), blob)


def parse(blob: bytes) -> Bundle:
    """The parts of a blob; BundleError naming what is malformed (not whether it is signed)."""
    if blob[:4] != MAGIC:
        raise BundleError("not a Quantrac firmware bundle (no QFW1 header)")
    try:
        (n,) = struct.unpack_from(">I", blob, 4)
        mb = blob[8:8 + n]
        (k,) = struct.unpack_from(">H", blob, 8 + n)
        sig = blob[10 + n:10 + n + k]
        manifest = json.loads(mb)
        off = 10 + n + k
        files = {}
        for path, size, _ in manifest["files"]:
            files[path] = blob[off:off + size]
            off += size
    except (struct.error, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"malformed bundle ({e})") from None
    return Bundle(manifest, mb, sig, files, blob)


def verify(blob: bytes, public_modulus: bytes) -> Bundle:
    """The bundle, once its signature and every file's size and sha256 check out: what the
    station checks, done the same way (textbook RSA verification with e = 65537)."""
    b = parse(blob)
    n = int.from_bytes(public_modulus, "big")
    if len(b.signature) != MODULUS_BYTES:
        raise BundleError("signature: wrong length")
    em = pow(int.from_bytes(b.signature, "big"), 65537, n).to_bytes(MODULUS_BYTES, "big")
    if em != pkcs1_sha256(hashlib.sha256(b.manifest_bytes).digest()):
        raise BundleError("signature does not match the manifest")
    for path, size, digest in b.manifest["files"]:
        data = b.files[path]
        if len(data) != size:
            raise BundleError(f"{path}: missing or cut short ({len(data)} of {size} bytes)")
        if hashlib.sha256(data).hexdigest() != digest:
            raise BundleError(f"{path}: sha256 does not match the manifest")
    return b


def pkcs1_sha256(digest: bytes) -> bytes:
    """EMSA-PKCS1-v1_5 encoding of a SHA-256 digest for a 3072-bit modulus."""
    info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    return b"\x00\x01" + b"\xff" * (MODULUS_BYTES - len(info) - 3) + b"\x00" + info


def write(bundle: Bundle, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bundle.blob)
    return out


# ---- over MQTT --------------------------------------------------------------------------------

def wanted(bundle: Bundle, force: bool = False, chunk: int = CHUNK_BYTES) -> dict:
    """The retained "wanted version" message for quantrac/v1/<station>/fw."""
    n = -(-len(bundle.blob) // chunk)
    return {"v": 1, "ver": bundle.version, "bytes": len(bundle.blob), "sha256": bundle.sha256,
            "chunk": chunk, "n": n, "force": force}


def chunks(bundle: Bundle, chunk: int = CHUNK_BYTES) -> list[bytes]:
    """The bundle's pieces for quantrac/v1/<station>/fw/<index> (retained)."""
    return [bundle.blob[i:i + chunk] for i in range(0, len(bundle.blob), chunk)]


def install_slot(bundle: Bundle, ota_dir: Path, public_modulus: bytes, slot: str = "a") -> None:
    """The first flash for OTA, on the laptop side: the bundle's files in `ota/<slot>/`, its
    version in `ota/<slot>/version`, that slot marked good (`ota/active`), and the public key."""
    verify(bundle.blob, public_modulus)
    folder = ota_dir / slot
    for path, data in bundle.files.items():
        dest = folder / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    (folder / "version").write_text(bundle.version)
    (ota_dir / "key").write_bytes(public_modulus)
    (ota_dir / "active").write_text(slot)


def install_board(folder: Path, build: Path, bundle: Bundle, public_modulus: bytes) -> None:
    """`folder` as `quantrac station flash` leaves a board for OTA: main.py and the loader
    (slots.mpy) from `build` at the root, `bundle` in slot a, the public key in ota/key."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in LOADER:
        shutil.copy(build / name, folder / name)
    install_slot(bundle, folder / "ota", public_modulus)

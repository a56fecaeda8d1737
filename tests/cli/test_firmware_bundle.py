"""`quantrac firmware keygen | bundle | verify`: one signed, versioned bundle of the build's
.mpy modules; the same checks a station makes refuse a changed or foreign bundle."""

from __future__ import annotations

import hashlib
import json
import stat

from click.testing import CliRunner

from fwtools import fwbundle
from quantrac.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_a_bundle_carries_a_signed_manifest_of_every_module(tmp_path):
    key = tmp_path / "sign.pem"
    r = run("firmware", "keygen", "--key", str(key))
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert fwbundle.public_path(key).stat().st_size == 384
    out = tmp_path / "b.qfw"
    r = run("firmware", "bundle", "1.4.2", "--target", "unix", "--key", str(key),
            "--out", str(out))
    assert r.exit_code == 0, r.output
    b = fwbundle.parse(out.read_bytes())
    m = b.manifest
    assert m["ver"] == "1.4.2" and m["mpy"] == fwbundle.MIN_MICROPYTHON
    paths = [f[0] for f in m["files"]]
    assert "station/app.mpy" in paths and "umqtt/simple.mpy" in paths
    assert "main.py" not in paths and "slots.mpy" not in paths  # the loader is never updated
    for path, size, digest in m["files"]:
        assert len(b.files[path]) == size and hashlib.sha256(b.files[path]).hexdigest() == digest
    assert f"bundle 1.4.2: {out}" in r.output and "chunks of 1536 B" in r.output
    r = run("firmware", "verify", str(out), "--key", str(key))
    assert r.exit_code == 0 and "signature good" in r.output, r.output


def test_verify_refuses_a_changed_file_a_changed_manifest_and_a_foreign_key(tmp_path):
    key, other = tmp_path / "k.pem", tmp_path / "o.pem"
    assert run("firmware", "keygen", "--key", str(key)).exit_code == 0
    assert run("firmware", "keygen", "--key", str(other)).exit_code == 0
    # a key stations trust is never replaced
    again = run("firmware", "keygen", "--key", str(key))
    assert again.exit_code != 0 and "already there" in again.output
    out = tmp_path / "b.qfw"
    assert run("firmware", "bundle", "2.0.0", "--target", "unix", "--key", str(key),
               "--out", str(out)).exit_code == 0
    blob = out.read_bytes()
    b = fwbundle.parse(blob)

    changed = bytearray(blob)
    changed[-1] ^= 1
    (tmp_path / "file.qfw").write_bytes(changed)
    r = run("firmware", "verify", str(tmp_path / "file.qfw"), "--key", str(key))
    assert r.exit_code != 0 and "sha256 does not match the manifest" in r.output

    manifest = json.loads(b.manifest_bytes)
    manifest["ver"] = "9.0.0"  # a version the operations centre never signed
    mb = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    (tmp_path / "man.qfw").write_bytes(fwbundle.assemble(mb, b.signature, b.files).blob)
    r = run("firmware", "verify", str(tmp_path / "man.qfw"), "--key", str(key))
    assert r.exit_code != 0 and "signature does not match the manifest" in r.output

    r = run("firmware", "verify", str(out), "--key", str(other))
    assert r.exit_code != 0 and "signature does not match the manifest" in r.output


def test_bad_versions_and_missing_keys_are_named(tmp_path):
    r = run("firmware", "bundle", "one", "--target", "unix", "--key", str(tmp_path / "k.pem"),
            "--out", str(tmp_path / "b.qfw"))
    assert r.exit_code != 0 and "version 'one'" in r.output
    r = run("firmware", "bundle", "1.0.0", "--target", "unix", "--key", str(tmp_path / "k.pem"),
            "--out", str(tmp_path / "b.qfw"))
    assert r.exit_code != 0 and "not a readable signing key" in r.output


def test_a_bundle_whose_files_take_more_blocks_than_a_slot_is_refused(tmp_path):
    """70 modules of 200 bytes are 14 KB, far under a slot's 256 KiB in bytes, but LittleFS
    gives each a whole 4 KiB block: 74 blocks with the folders, 296 KiB installed."""
    key = tmp_path / "k.pem"
    assert run("firmware", "keygen", "--key", str(key)).exit_code == 0
    build = tmp_path / "build"
    (build / "station").mkdir(parents=True)
    for i in range(70):
        (build / "station" / f"m{i}.mpy").write_bytes(bytes(200))
    try:
        fwbundle.make(build, "1.0.0", key)
    except fwbundle.BundleError as e:
        assert "74 filesystem blocks" in str(e) and "app_slot_bytes" in str(e), e
    else:
        raise AssertionError("a bundle of 74 blocks was made for a 64-block slot")
    for i in range(10, 70):  # 10 such files fit: 14 blocks
        (build / "station" / f"m{i}.mpy").unlink()
    assert fwbundle.make(build, "1.0.0", key).manifest["ver"] == "1.0.0"

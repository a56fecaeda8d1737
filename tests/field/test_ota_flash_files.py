"""`quantrac station flash --ota`: what goes onto a board flashed for over-the-air updates
(quantrac/field/bundle.py ota_files): the loader at the root, the signed bundle as slot a with
its version, the public key; a bundle the key does not verify never reaches a board."""

from __future__ import annotations

import pytest

from fwtools import fwbuild, fwbundle
from quantrac.field import bundle


def test_ota_files_lay_out_slot_a_the_loader_and_the_key(tmp_path):
    build = fwbuild.build("unix", tmp_path / "build")
    key = tmp_path / "k.pem"
    pub = fwbundle.keygen(key)
    made = fwbundle.make(build.folder, "2.1.0", key)
    blob = fwbundle.write(made, tmp_path / "b.qfw")
    files = bundle.ota_files(build.folder, blob, pub, tmp_path / "staging")
    assert files["main.py"] == build.folder / "main.py"
    assert files["slots.mpy"] == build.folder / "slots.mpy"
    assert files["ota/active"].read_text() == "a"
    assert files["ota/a/version"].read_text() == "2.1.0"
    assert files["ota/key"].read_bytes() == pub.read_bytes()
    for path, size, _ in made.manifest["files"]:
        assert files[f"ota/a/{path}"].stat().st_size == size
    assert "station/app.mpy" not in files  # the modules run from the slot only

    other = tmp_path / "o.pem"
    fwbundle.keygen(other)
    with pytest.raises(bundle.BundleError, match="refused: signature does not match"):
        bundle.ota_files(build.folder, blob, fwbundle.public_path(other), tmp_path / "s2")

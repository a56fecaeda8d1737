"""Firmware tooling between the station and the operations room: the .mpy/ROMFS build
(fwbuild), signed update bundles (fwbundle), their chunks on the broker (fwpublish) and
staged rollouts (fwrollout). Below hil (its OTA scenarios play rollouts) and the CLI."""

"""`quantrac station …`: from a registry entry to a commissioned board, in one sitting.

    new → credentials → build → flash → console → commission

The work is in `quantrac.field`; these commands parse options and print.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

import boards

REGISTRY_HELP = "registry name under boards/registry, or a path to a registry .json file"
RUN_DIR = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
                       help="run folder (default: QUANTRAC_RUN_DIR or .run/)")
BUILD_ROOT = click.option("--build-root", type=click.Path(file_okay=False, path_type=Path),
                          help="where firmware builds go, one folder per target "
                               "(default: build/firmware)")
TARGET = click.option("--target", type=click.Choice(["esp32", "unix"]), default="esp32",
                      show_default=True, help="the board the build is for")
REGISTRY = click.option("--registry", "registry_name", default="phu-quoc", show_default=True,
                        help=REGISTRY_HELP)


def _registry(name: str) -> boards.Registry:
    from quantrac.field import registry_file

    try:
        return registry_file.load(name)
    except (registry_file.RegistryError, boards.BoardsError) as e:
        raise click.ClickException(str(e)) from None


def _station(registry_name: str, station_id: str) -> boards.Station:
    try:
        return _registry(registry_name).get(station_id)
    except boards.BoardsError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def station() -> None:
    """Stations: new, credentials, build, flash, console, commission; cmd and configure for
    a running station."""


@station.command("list")
@REGISTRY
def list_stations(registry_name: str) -> None:
    """Every station: id, kind, profile, coordinates, name."""
    for s in _registry(registry_name).stations:
        click.echo(f"{s.id:<12} {s.kind:<11} {s.profile:<13} {s.lat:8.4f} {s.lon:9.4f}  {s.name}")


def _port(value: str) -> tuple[str, dict]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f"{value!r} is not NAME=DEVICE (e.g. rs485=/dev/ttyUSB0)")
    return name, {"path": path}


@station.command()
@click.argument("station_id")
@click.option("--port", "ports", multiple=True, required=True,
              help="UART name=device, e.g. rs485=/dev/ttyUSB0 (repeat for each UART).")
@click.option("--mqtt-host", required=True)
@click.option("--mqtt-port", type=click.IntRange(1, 65535), default=1883, show_default=True)
@click.option("--sample-s", type=click.IntRange(1, 3600))
@click.option("--report-s", type=click.IntRange(1, 86400))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default="-")
@REGISTRY
def config(station_id: str, ports: tuple[str, ...], mqtt_host: str, mqtt_port: int,
           sample_s: int | None, report_s: int | None, out: Path, registry_name: str) -> None:
    """Write the firmware config for STATION_ID (the password comes from its secrets file)."""
    st = _station(registry_name, station_id)
    try:
        cfg = boards.firmware_config(st, dict(_port(p) for p in ports),
                                     {"host": mqtt_host, "port": mqtt_port, "user": st.id},
                                     sample_s=sample_s, report_s=report_s)
    except (boards.BoardsError, click.BadParameter) as e:
        raise click.ClickException(str(e)) from e
    text = json.dumps(cfg, indent=1, ensure_ascii=False) + "\n"
    if str(out) == "-":
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}")


def _address(value: str) -> tuple[str, int]:
    name, sep, addr = value.partition("=")
    if not sep or not name or not addr.isdigit():
        raise click.BadParameter(f"{value!r} is not SENSOR=ADDRESS (e.g. gas=5)")
    return name, int(addr)


@station.command()
@click.argument("station_id")
@click.option("--name", required=True, help="what people call the place")
@click.option("--profile", required=True, help="station type (boards/profiles)")
@click.option("--lat", type=float, required=True)
@click.option("--lon", type=float, required=True)
@click.option("--class", "station_class", default="", help="urban, traffic, port, …")
@click.option("--regulation", help="default: the one this network's stations of the kind use")
@click.option("--column", help="regulation column (wastewater A/B, sea water bathing/…)")
@click.option("--address", "addresses", multiple=True,
              help="SENSOR=ADDRESS when a sensor is strapped away from the profile's address")
@click.option("--allow-far", is_flag=True,
              help="accept coordinates far from every other station of the network")
@REGISTRY
def new(station_id: str, name: str, profile: str, lat: float, lon: float, station_class: str,
        regulation: str | None, column: str | None, addresses: tuple[str, ...], allow_far: bool,
        registry_name: str) -> None:
    """Add STATION_ID to the registry (checked as a whole before the file changes)."""
    from quantrac.field import registry_file

    try:
        doc = json.loads(registry_file.locate(registry_name).read_text(encoding="utf-8"))
        entry = registry_file.station_entry(
            doc, station_id, name, profile, lat, lon, station_class, regulation, column,
            dict(_address(a) for a in addresses), allow_far)
        st = registry_file.append_station(registry_name, entry)
    except (OSError, ValueError, click.BadParameter) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"added {st.id} ({st.kind}, {st.profile}, {len(st.sensors())} sensors) to "
               f"{registry_file.locate(registry_name)}")
    click.echo(f"next: quantrac station credentials {st.id}")


@station.command()
@click.argument("station_id")
@click.option("--rotate", is_flag=True, help="a new password (a lost or replaced board)")
@click.option("--tls", is_flag=True, help="also a client certificate, and the broker's TLS "
              "listener and CA on first use")
@click.option("--tls-host", "tls_hosts", multiple=True,
              help="name or IP the stations reach the broker by (repeat; with --tls)")
@click.option("--tls-listen", callback=lambda c, p, v: _listen(v),
              help="ADDRESS:PORT the TLS listener binds, e.g. 0.0.0.0:8883 in the field "
                   "(with --tls; kept for later runs); default: a free loopback port")
@click.option("--wifi-password", envvar="QUANTRAC_WIFI_PASSWORD",
              help="the site's Wi-Fi password, for the board's secrets file")
@REGISTRY
@RUN_DIR
def credentials(station_id: str, rotate: bool, tls: bool, tls_hosts: tuple[str, ...],
                tls_listen: tuple[str, int] | None,
                wifi_password: str | None, registry_name: str, run_dir: Path | None) -> None:
    """The station's broker account and its board's secrets file (0600)."""
    from collector.services import credentials as service_credentials
    from collector.services.state import ServicesError
    from quantrac.field import accounts, registry_file, workspace

    if tls_listen and not tls:
        raise click.UsageError("--tls-listen goes with --tls")
    st = _station(registry_name, station_id)
    lay = accounts.layout(run_dir)
    try:
        path = registry_file.locate(registry_name)
        # `services up` keeps the accounts of every registry recorded here
        service_credentials.remember_registry(
            lay, path.stem if path.parent == boards.HERE / "registry" else str(path))
        password = accounts.station_password(lay, st.id, rotate)
        ca = accounts.ensure_tls(lay, tls_hosts or accounts.TLS_HOSTS, tls_listen) \
            if tls else None
        change = accounts.apply(lay)
        d = workspace.station_dir(run_dir, st.id)
        secrets = workspace.write_secrets(d, password, wifi_password)
        if ca is not None:
            cert, key = ca.client(st.id)
            tls_dir = workspace.write_client_tls(d, ca.ca_der(), cert, key)
    except (ServicesError, OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{st.id}: password {'replaced' if rotate else 'kept or made'}, stored hashed in "
               f"the broker's password file; broker {change.action}: {change.detail}")
    click.echo(f"board secrets: {secrets} (0600)")
    if ca is not None:
        from collector.services import mosquitto

        click.echo(f"TLS: CA, client certificate and key for {st.id} in {tls_dir}; broker "
                   f"TLS listener on port {mosquitto.tls_port(lay)}")


def _mqtt_target(run_dir: Path | None, host: str | None, port: int | None) -> dict:
    if host:
        return {"host": host, "port": port or 1883}
    from collector import services
    from collector.services.state import ServicesError

    try:
        env = services.load_env(run_dir)
    except ServicesError:
        raise click.ClickException("give --mqtt-host (no services.env in the run folder to take "
                                   "the broker from)") from None
    return {"host": env["QUANTRAC_MQTT_HOST"], "port": port or int(env["QUANTRAC_MQTT_PORT"])}


def _tls_port(run_dir: Path | None) -> int:
    """The port of the run folder's TLS listener (the stations connect to it), else MQTT's
    TLS port."""
    from collector.services import mosquitto
    from quantrac_common import paths

    return mosquitto.tls_port(mosquitto.Layout(paths.run_dir(run_dir))) or 8883


def _listen(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    import ipaddress

    host, sep, port = value.rpartition(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
        if not sep or not 0 < number < 65536:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ADDRESS:PORT with an IP address, e.g. "
                                 "0.0.0.0:8883", param_hint="--tls-listen") from None
    return host, number


@station.command()
@click.argument("station_id")
@click.option("--port", "ports", multiple=True,
              help="UART name=device for a board that opens paths (unix port); default: the "
                   "board's pin map")
@click.option("--mqtt-host", help="default: the broker of the run folder")
@click.option("--mqtt-port", type=click.IntRange(1, 65535))
@click.option("--wifi-ssid", help="the site's Wi-Fi network (its password goes in secrets)")
@click.option("--sample-s", type=click.IntRange(1, 3600))
@click.option("--report-s", type=click.IntRange(1, 86400))
@BUILD_ROOT
@TARGET
@click.option("--config-only", is_flag=True, help="keep the firmware build there is")
@click.option("--board", help="the board's pin/flash file when not the profile's (new "
              "stations: esp32-wroom-32e-n8)")
@REGISTRY
@RUN_DIR
def build(station_id: str, ports: tuple[str, ...], mqtt_host: str | None,
          mqtt_port: int | None, wifi_ssid: str | None, sample_s: int | None,
          report_s: int | None, build_root: Path | None, target: str, config_only: bool,
          board: str | None, registry_name: str, run_dir: Path | None) -> None:
    """The firmware as .mpy and the station's config.json, with every file's size."""
    from quantrac.field import bundle, workspace

    st = _station(registry_name, station_id)
    from quantrac.cli import rules

    rules.echo_warnings(rules.transition_warnings([st], run_dir))
    board = board or boards.profile(st.profile)["board"]
    try:
        uarts = {name: dict(u) for name, u in boards.pins(board)["uarts"].items()}
    except boards.BoardsError as e:
        raise click.ClickException(str(e)) from None
    try:
        given = dict(_port(p) for p in ports)
        unknown = sorted(set(given) - set(uarts))
        if unknown:
            raise click.BadParameter(f"--port {unknown[0]}=…: board {board} has no UART "
                                     f"{unknown[0]!r} (it has {', '.join(uarts)})")
        uarts.update(given)
        mqtt = {**_mqtt_target(run_dir, mqtt_host, mqtt_port), "user": st.id}
        if (workspace.station_dir(run_dir, st.id) / workspace.TLS).is_dir():
            # `credentials --tls` made the station a certificate: flashed to tls/ beside
            # config.json, and the board talks to the broker's TLS listener
            mqtt["tls"] = workspace.TLS
            if mqtt_port is None:
                mqtt["port"] = _tls_port(run_dir)
        cfg = boards.firmware_config(st, uarts, mqtt, sample_s=sample_s, report_s=report_s)
    except (boards.BoardsError, click.BadParameter) as e:
        raise click.ClickException(str(e)) from None
    if wifi_ssid:
        cfg["wifi"] = {"ssid": wifi_ssid}
    root = build_root or bundle.BUILD_ROOT
    try:
        if not config_only:
            from fwtools import fwbuild

            fwbuild.build(target, root)
        d = workspace.station_dir(run_dir, st.id)
        workspace.write_config(d, cfg)
        files = {**bundle.firmware_files(root / target), **workspace.board_files(d)}
    except ImportError as e:
        raise click.ClickException(f"no firmware builder in this checkout ({e})") from None
    except (OSError, RuntimeError, ValueError) as e:  # fwbuild's and bundle's errors included
        raise click.ClickException(str(e)) from None
    total = 0
    for remote, size in bundle.sizes(files):
        total += size
        click.echo(f"{size:>8}  {remote}")
    fs = boards.pins(board).get("flash", {}).get("fs_bytes")
    click.echo(f"{total:>8}  total for {st.id}" + (f" ({100 * total / fs:.1f} % of the "
                                                    f"{fs} B filesystem)" if fs else ""))
    if mqtt["host"].startswith("127.") or mqtt["host"] == "localhost":
        click.echo(f"note: the board will look for its broker at {mqtt['host']}, which is only "
                   "right for a board on this machine; give --mqtt-host for one in the field")
    if workspace.SECRETS not in files:
        click.echo(f"next: quantrac station credentials {st.id}")


@station.command()
@click.argument("station_id")
@click.option("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0")
@click.option("--image", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="a MicroPython .bin to write first (blank or foreign board)")
@click.option("--chip", default="esp32", show_default=True)
@click.option("--bootloader-port", help="the ROM bootloader's port when it is not --port "
              "(boards with two USB ports)")
@click.option("--baud", type=int, default=460800, show_default=True, help="esptool speed")
@click.option("--no-erase", is_flag=True, help="write the image without erasing flash first")
@click.option("--no-restart", is_flag=True, help="leave the board in its REPL afterwards")
@click.option("--board", help="the board's pin/flash file (boards/pins/) when not the "
              "profile's: new stations go on esp32-wroom-32e-n8 (8 MB, full-image updates)")
@click.option("--dry-run", is_flag=True, help="print what would be written (partition table, "
              "the filesystem's budget) and touch nothing")
@click.option("--ota", "ota_bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="flash for over-the-air updates: this signed bundle (quantrac firmware "
              "bundle) as slot a, the loader and the public key")
@click.option("--key", "ota_key", type=click.Path(dir_okay=False, path_type=Path),
              help="with --ota: the signing key whose .pub the board gets "
              "[default: <run>/secrets/firmware-signing.pem]")
@BUILD_ROOT
@TARGET
@REGISTRY
@RUN_DIR
def flash(station_id: str, port: str, image: Path | None, chip: str,
          bootloader_port: str | None, baud: int, no_erase: bool, no_restart: bool,
          board: str | None, dry_run: bool, ota_bundle: Path | None, ota_key: Path | None,
          build_root: Path | None, target: str, registry_name: str,
          run_dir: Path | None) -> None:
    """MicroPython (with --image) and the partition table the board needs, then the build
    (with --ota: the signed bundle as slot a, the loader and the public key), config and
    secrets, each verified by hash."""
    import shutil
    import tempfile

    from quantrac.field import bundle, workspace
    from quantrac.field import flash as flashing

    st = _station(registry_name, station_id)
    build_dir = (build_root or bundle.BUILD_ROOT) / target
    try:
        layout = flashing.plan(board or boards.profile(st.profile)["board"], image, chip,
                               erase=not no_erase)
    except flashing.FlashError as e:
        raise click.ClickException(str(e)) from None
    for line in layout.lines:
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing written")
        return
    staging = Path(tempfile.mkdtemp(prefix="quantrac-ota-"))
    try:
        station_dir = workspace.station_dir(run_dir, st.id)
        if ota_bundle is None:
            files = bundle.board_files(build_dir, station_dir, st.id)
        else:
            from fwtools import fwbundle
            from quantrac_common.paths import run_dir as default_run

            key = ota_key or (run_dir or default_run()) / "secrets" / "firmware-signing.pem"
            files = {**bundle.ota_files(build_dir, ota_bundle, fwbundle.public_path(key),
                                        staging),
                     **bundle.station_files(station_dir, st.id)}
        copied = flashing.flash(port, files, image, chip, bootloader_port, baud,
                                erase=not no_erase, restart=not no_restart, echo=click.echo,
                                layout=layout)
    except (bundle.BundleError, flashing.FlashError, OSError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for c in copied:
        click.echo(f"{c.action:<10}{c.size:>8}  {c.path}  {c.sha256[:16]}")
    kept = [c for c in copied if c.action != "removed"]
    click.echo(f"{st.id}: {len(kept)} files on the board, every sha256 checked there"
               + ("" if no_restart else "; board restarted into its firmware"))


@station.command()
@click.option("--port", required=True, help="the board's serial port")
@click.option("--seconds", type=float, help="watch this long and exit (else: interactive REPL)")
@click.option("--reset", is_flag=True, help="soft-reboot the board into its firmware first")
def console(port: str, seconds: float | None, reset: bool) -> None:
    """What the board prints (its boot and log lines), or its REPL."""
    from quantrac.field import console as board_console

    if seconds is None:
        board_console.interactive(port)
        return
    try:
        board_console.watch(port, seconds, reset,
                            out=lambda data: click.echo(data.decode(errors="replace"), nl=False))
    except OSError as e:
        raise click.ClickException(str(e)) from None


@station.command()
@click.argument("station_id")
@click.option("--port", required=True, help="the board's serial port")
@click.option("--by", default="", help="who commissioned it (printed on the sheet)")
@click.option("--sensor-wait", type=float, default=8.0, show_default=True,
              help="seconds to wait for each sensor's first reading")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="folder for the sheet (default: the station's folder in the run folder)")
@REGISTRY
@RUN_DIR
def commission(station_id: str, port: str, by: str, sensor_wait: float, out: Path | None,
               registry_name: str, run_dir: Path | None) -> None:
    """Read every sensor live through the board, check ranges and the broker; print and save
    the pass/fail sheet. Exit status 1 when anything failed."""
    from collector import services
    from collector.services.state import ServicesError
    from quantrac.field import commission as comm
    from quantrac.field import sheet, workspace
    from quantrac.field.board import BoardError

    st = _station(registry_name, station_id)
    try:
        env = services.load_env(run_dir)
    except ServicesError:
        env = None
    click.echo(f"commissioning {st.id} on {port}")
    try:
        findings = comm.run(port, st.id, env, echo=click.echo, sensor_wait_s=sensor_wait)
    except BoardError as e:
        raise click.ClickException(str(e)) from None
    page = sheet.judge(st, findings, port, by)
    txt, _ = sheet.save(page, out or workspace.station_dir(run_dir, st.id) / workspace.SHEETS)
    click.echo("")
    click.echo(sheet.render(page), nl=False)
    click.echo(f"saved {txt} (+ .json)")
    sys.exit(0 if page["result"] == sheet.PASS else 1)


def _remote() -> None:
    # commands for a running station live in their own module; registered here so that
    # `quantrac station --help` lists them
    from quantrac.cli.station_remote import cmd, configure

    station.add_command(cmd)
    station.add_command(configure)


_remote()

"""`quantrac`: one command for technicians, operators and engineers.

Each group lives in its own module and is imported only when used, so `quantrac --help` and
a technician's `quantrac station …` never pay for numpy or the collector's imports.
"""

from __future__ import annotations

import importlib

import click

GROUPS = {
    "services": ("quantrac.cli.services", "services",
                 "Start, stop and show the project's own Mosquitto and InfluxDB."),
    "collector": ("quantrac.cli.collector", "collector",
                  "Run and inspect the collector (broker -> InfluxDB)."),
    "demo": ("quantrac.cli.demo", "demo", "Run simulated stations through the whole stack."),
    "firmware": ("quantrac.cli.firmware", "firmware",
                 "Firmware dependencies and the unix-port runner."),
    "fleet": ("quantrac.cli.fleet", "fleet",
              "Station firmware from the operations room: status, publish, rollout, halt, "
              "rollback."),
    "station": ("quantrac.cli.station", "station",
                "Stations: new, credentials, build, flash, console, commission; cmd, configure."),
    "sensor": ("quantrac.cli.sensor", "sensor",
               "Probe, read and address RS-485 sensors from the laptop."),
    "alerts": ("quantrac.cli.alerts", "alerts",
               "Open alerts: list, acknowledge, silence a station for maintenance."),
    "index": ("quantrac.cli.index", "index",
              "VN_AQI and VN_WQI from given means, to check a number by hand."),
    "rules": ("quantrac.cli.rules", "rules",
              "Regulation limits per station: which applies, from which rule, how sure."),
    "bench": ("quantrac.cli.bench", "bench", "Benchmarks that print ratios measured in one run."),
    "hil": ("quantrac.cli.hil", "hil",
            "Hardware-in-the-loop scenarios on the unix port or a real board."),
    "data": ("quantrac.cli.data", "data",
             "Operator review: flag invalid data, approve checked days, list the marks."),
    "public": ("quantrac.cli.public", "public",
               "The public air and water page, open-data API and SensorThings view."),
    "export": ("quantrac.cli.export", "export", "Open-data CSV/JSON for any date range."),
    "report": ("quantrac.cli.report", "report",
               "The department's daily and monthly bulletins (Markdown and PDF, vi and en)."),
    "forecast": ("quantrac.cli.forecast", "forecast",
                 "Station forecasts 1-72 h ahead: the rolling-origin backtest."),
    "grafana": ("quantrac.cli.grafana", "grafana",
                "Build and push the operations-room dashboards."),
    "backup": ("quantrac.cli.backup", "backup",
               "Back up the run folder: database, secrets, spool, alert state."),
    "restore": ("quantrac.cli.backup", "restore",
                "Restore a backup into a fresh run folder."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(GROUPS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in GROUPS:
            return None
        module, attr, _ = GROUPS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, GROUPS[name][2]) for name in sorted(GROUPS)])


@click.group(cls=LazyGroup)
@click.version_option(package_name="quantrac")
def main() -> None:
    """Quantrac: environmental monitoring stations, from sensor to dashboard."""


if __name__ == "__main__":
    main()

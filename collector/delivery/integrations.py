"""The collector's optional integrations, wired around its alert outputs in one place:

    alert points ─▶ camera module (a snapshot first) ─▶ retained MQTT, webhook, e-mail
    spool ─(own cursor)─▶ e-gov module ─▶ outbox ─▶ FTP(S), REST; daily open data

`Integrations` has the alert outputs' interface (`names`, `start`, `send`, `stop`, `stats`), so
the pipeline holds one line for all of it. Its `stats()` lists the camera and each e-gov
destination beside the alert outputs, so `status.json`, `quantrac collector status` and the
Prometheus text show them. Without `[camera]` and `[egov]` enabled it is the alert outputs.
"""

from __future__ import annotations

from typing import Any

from collector.config import Settings
from collector.egov.plugin import EgovModule
from collector.egov.plugin import spool_consumers as egov_consumers

__all__ = ["Integrations", "integrations", "spool_consumers"]


def spool_consumers(settings: Settings) -> tuple[str, ...]:
    """The spool's cursors: the database's, and the e-gov module's when enabled."""
    return ("influxdb", *egov_consumers(settings.egov))


class Integrations:
    def __init__(self, outputs: Any, egov: EgovModule) -> None:
        self.outputs, self.egov = outputs, egov

    @property
    def names(self) -> list[str]:
        return [*self.outputs.names, *(f"egov_{d}" for d in self.egov.workers), "egov_open_data"]

    def own(self, stations: frozenset[str], leader: bool) -> None:
        for part in (self.outputs, self.egov):
            own = getattr(part, "own", None)
            if own is not None:
                own(stations, leader)

    def start(self) -> None:
        self.outputs.start()
        self.egov.start()

    def send(self, points: list) -> None:
        self.outputs.send(points)  # the e-gov module reads alerts from the spool instead

    def stop(self, timeout_s: float = 10.0) -> None:
        self.outputs.stop(timeout_s)
        self.egov.stop(timeout_s)  # what it has not sent stays in its outbox and the spool

    def stats(self) -> dict[str, dict[str, Any]]:
        doc = self.egov.stats()
        out = {**self.outputs.stats(), **{f"egov_{d}": s for d, s in doc["outputs"].items()}}
        od = doc["open_data"]
        out["egov_open_data"] = {"state": "failing" if od["last_error"] else "ok",
                                 "last_error": od["last_error"], "delivered": od["files"],
                                 "refused": 0, "waiting": 0, "last_day": od["last_day"]}
        return out


def integrations(settings: Settings, outputs: Any, spool: Any) -> Any:
    """The alert outputs with the camera module in front and the e-gov module beside them,
    each only when enabled."""
    outputs = settings.build("camera", outputs)
    egov = settings.build("egov", spool)
    return outputs if egov is None else Integrations(outputs, egov)

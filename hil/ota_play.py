"""The operations room of an OTA scenario: its `ota` steps played on the bench clock, through
the same library the `quantrac fleet` commands use (fwtools/fwpublish.py stage,
fwtools/fwrollout.py rollout), with the operator account on the real broker.

- `publish`: chunks and wanted version for the stations (fwpublish.stage); done once every
  one of them answered for that version (an `ota` event refused, good or rolled_back) or
  after its `timeout`;
- `rollout`: fwrollout.rollout with the stage timeout converted to real seconds at the
  scenario's speed; its Result kept under the step's id for the `rollout` checks;
- `offline` / `online`: the station's power (hil/ota_station.py);
- `wait`: station time passes.

Retained wanted versions and chunks outlive a run: `clear()` removes them for the scenario's
stations before the stations start and after they stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fwtools import fwbundle, fwrollout
from fwtools.fwpublish import Operator, PublishError, stage
from hil import watch
from hil.fastclock import FastClock
from hil.ota_kit import Kit
from hil.ota_scenario import Firmware, Step
from hil.ota_station import OtaStation

OUTCOMES = ("refused", "good", "rolled_back")
PUBLISH_TRIES = 3


def clear(env: dict, stations: list[str], kit: Kit) -> None:
    """No wanted version and no chunk left for these stations."""
    most = max(len(fwbundle.chunks(b)) for b in [kit.installed, *kit.bundles.values()])
    with Operator(env) as op:
        fwrollout.halt(op, stations, {}, most)


class OtaPlayer:
    def __init__(self, firmware: Firmware, env: dict, clock: FastClock, kit: Kit,
                 stations: dict[str, OtaStation], watcher: watch.Watcher,
                 say: Callable[[str], None]) -> None:
        self.fw = firmware
        self.env = env
        self.clock = clock
        self.kit = kit
        self.stations = stations
        self.watcher = watcher
        self.say = say
        self.rollouts: dict[str, fwrollout.Result] = {}
        self.errors: list[str] = []
        self.finished_at: float | None = None  # station time the last step was done
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="ota-steps")

    def start(self) -> OtaPlayer:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def stop(self, timeout_s: float) -> None:
        """Stop between steps; a rollout under way ends by its own stage timeout."""
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.errors.append("a rollout was still running when the scenario ended")
        elif not self.done:
            self.errors.append("the ota steps were not done by the scenario's end")

    def _run(self) -> None:
        for i, step in enumerate(self.fw.steps):
            if step.at is not None and not self.clock.wait_until(step.at, self._stop):
                return
            if self._stop.is_set():
                return
            self.say(f"ota[{i}] at +{(self.clock.now() - self.clock.start_time) / 60:.0f} min: "
                     f"{step.describe()}")
            try:
                getattr(self, f"_{step.action}")(step)
            except Exception as e:  # the report says which step could not be played
                self.errors.append(f"ota[{i}] {step.describe()}: {type(e).__name__}: {e}")
                return
        self.finished_at = self.clock.now()

    def _publish(self, step: Step) -> None:
        seen = {st: len(self.watcher.events(st)) for st in step.stations}
        for attempt in range(PUBLISH_TRIES):  # retained messages: publishing again is harmless
            try:
                with Operator(self.env) as op:
                    stage(op, step.stations, self.kit.bundles[step.version], step.force)
                break
            except (PublishError, RuntimeError) as e:  # a loaded bench's broker: try again
                if attempt == PUBLISH_TRIES - 1:
                    raise
                self.say(f"  publish failed ({e}); again")
        deadline = self.clock.now() + step.timeout_s
        waiting = set(step.stations)
        while waiting and self.clock.now() < deadline and not self._stop.is_set():
            for st in list(waiting):
                if any(e.get("ev") == "ota" and e.get("ver") == step.version
                       and e.get("state") in OUTCOMES
                       for e in self.watcher.events(st)[seen[st]:]):
                    waiting.discard(st)
            time.sleep(0.1)

    def _rollout(self, step: Step) -> None:
        self.rollouts[step.id] = fwrollout.rollout(
            self.env, self.kit.bundles[step.version], list(step.stations), step.canary,
            list(step.stages), timeout_s=self.clock.real_s(step.timeout_s),
            say=lambda m: self.say(f"  {m}"))

    def _offline(self, step: Step) -> None:
        self.stations[step.stations[0]].power_off()

    def _online(self, step: Step) -> None:
        self.stations[step.stations[0]].power_on()

    def _wait(self, step: Step) -> None:
        self.clock.wait_until(self.clock.now() + step.wait_s, self._stop)

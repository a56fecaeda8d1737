"""A simulator that serves its port from a thread of its own."""

from __future__ import annotations

import threading
from typing import Self


class PortWorker:
    """`start` runs `_run(*args)` on a daemon thread; `stop` joins it. The port stays open:
    whoever made it closes it, so a station's ptys outlive a simulator being replugged."""

    _thread: threading.Thread | None = None

    def _init_worker(self) -> None:
        self._stop = threading.Event()
        self._thread = None

    def _launch(self, name: str, *args: object) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self!r} already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=args, name=name, daemon=True)
        self._thread.start()

    def _run(self, *args: object) -> None:
        raise NotImplementedError

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"{self!r} did not stop in {timeout_s} s")
        self._thread = None

    def __enter__(self) -> Self:
        self.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

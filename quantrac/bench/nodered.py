"""Node-RED as a peer in `quantrac bench ingest`: one real `node red.js` process per variant,
on a free loopback port with its own userDir in a tmp folder, connected to the bench's own
Mosquitto and InfluxDB, stopped (and its folder removed) however the run ends.

Started as root it runs as the services account, like Mosquitto and InfluxDB
(`collector.services.procs`): the npm tree is not ours and needs no privilege.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from collector.services import ports, procs
from quantrac.bench import common, nodered_flow

READY_TIMEOUT_S = 90.0  # Node-RED loads every core node first: seconds on a busy machine
# Node-RED answers between two of its callbacks: under 20,000 writes in flight that can take
# seconds, and the clock stops at the first answer that shows them all done.
PROGRESS_TIMEOUT_S = 30.0
# Log lines after which the flow will never start (a node type not installed, a bad flow).
FLOW_FAILED = ("Waiting for missing types", "\nError: ")


class NodeRed:
    """`with NodeRed(node, red_js, env, client_id, kinds, batched) as nr:` started and its
    flows running, the broker not yet connected; stopped on leaving."""

    def __init__(self, node: str, red_js: Path, env: dict[str, str], client_id: str,
                 kinds: dict[str, str], batched: bool) -> None:
        self.argv = [node, str(red_js), "--userDir", ".", "--settings", "settings.js"]
        self.env, self.client_id, self.kinds, self.batched = env, client_id, kinds, batched
        self.folder: Path | None = None
        self.pid: int | None = None
        self.port = 0

    def __enter__(self) -> NodeRed:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def log(self) -> Path:
        assert self.folder is not None
        return self.folder / "node-red.log"

    def _start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="quantrac-nodered-"))
        self.port = ports.free_port()
        flows, creds = nodered_flow.flows(self.env, self.client_id, self.kinds, self.batched)
        (self.folder / "settings.js").write_text(nodered_flow.settings_js(self.port))
        (self.folder / "flows.json").write_text(json.dumps(flows, indent=1))
        (self.folder / "nodes").mkdir()
        (self.folder / "nodes" / "quantrac-bench.js").write_text(nodered_flow.probe_js())
        (self.folder / "nodes" / "quantrac-bench.html").touch()  # Node-RED loads no .js alone
        cred = self.folder / "flows_cred.json"
        cred.touch(mode=0o600)
        cred.write_text(json.dumps(creds))
        procs.hand_over(self.folder)
        self.pid = procs.start(self.argv, self.log, self.folder,
                               env={**os.environ, "NODE_ENV": "production"}, unprivileged=True)
        procs.wait_ready("Node-RED", self.pid, self.argv, self.log, self._answers,
                         timeout=READY_TIMEOUT_S)

    def close(self) -> None:
        try:
            if self.pid is not None:
                procs.stop(self.pid, self.argv)
                self.pid = None
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _answers(self) -> bool:
        text = procs.log_tail(self.log, lines=200)
        if any(mark in text for mark in FLOW_FAILED):
            raise common.BenchError(f"Node-RED could not start the bench's flow; last lines "
                                    f"of {self.log}:\n{self.log_tail()}")
        try:
            return bool(self.progress().get("ready"))
        except (OSError, ValueError):
            return False

    def progress(self) -> dict:
        """Messages whose write was answered (ok) or failed, writes, a few error texts."""
        with urllib.request.urlopen(self._url(nodered_flow.PROGRESS_PATH),
                                    timeout=PROGRESS_TIMEOUT_S) as r:
            return json.loads(r.read())

    def connect(self) -> None:
        req = urllib.request.Request(self._url(nodered_flow.CONNECT_PATH), b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=PROGRESS_TIMEOUT_S) as r:
                r.read()
        except OSError as e:
            raise common.BenchError(f"Node-RED did not take the connect request: {e}; last "
                                    f"lines of its log:\n{self.log_tail()}") from e

    def log_tail(self) -> str:
        return procs.log_tail(self.log, lines=10)


def drain(node: str, red_js: Path, env: dict[str, str], client_id: str, n: int,
          kinds: dict[str, str], batched: bool, timeout: float) -> dict:
    """Start Node-RED on the filled persistent session `client_id`; the clock runs from its
    connect until every one of the `n` messages has its write answered or failed."""
    with NodeRed(node, red_js, env, client_id, kinds, batched) as nr:
        last: dict = {}

        def handled() -> bool:
            nonlocal last
            if not procs.running(nr.pid, nr.argv):
                raise common.BenchError("Node-RED exited")
            try:
                last = nr.progress()
            except OSError:  # its one thread busy with a pile of writes: ask again
                return False
            return last["messages_ok"] + last["messages_failed"] >= n

        t0 = time.monotonic()
        nr.connect()
        try:
            common.wait_for(handled, f"Node-RED to write {n} messages", timeout)
        except common.BenchError as e:
            raise common.BenchError(f"{e}; Node-RED's progress: {last}; last lines of its "
                                    f"log:\n{nr.log_tail()}") from e
        secs = time.monotonic() - t0
        return {"seconds": secs, "writes": last["writes_ok"] + last["writes_failed"],
                "writes_failed": last["writes_failed"], "write_errors": last["errors"]}

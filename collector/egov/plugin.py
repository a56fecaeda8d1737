"""The e-gov module: what the province's government receives, on threads of its own so a slow
or dead government server never slows ingest.

    spool ─(cursor "egov", reader thread)─▶ outbox (fsync'd) ─▶ worker "ftp" ─▶ DONRE FTP(S)
                                                            └─▶ worker "api" ─▶ REST + OAuth2
    InfluxDB ─(InfluxQL, once a day)─▶ open-data folder: CSV + JSON per station and day

The reader takes the spool's readings and points after the pipeline committed them (its own
spool cursor, local disk work only), turns them into outbox items and moves its cursor after
the outbox has them: a crash in between re-reads them, and the outbox skips keys it holds.
Items: one Circular 10/2021 data file per station and record time (key `<station>/<stamp>`),
each alert transition, each hourly VN_AQI / VN_WQI and each daily VN_AQI once the station's
records reached the end of its hour or day (held until then, in `state.json`). When the
outbox is full, new items go to its dead letters with that reason instead of holding the spool
back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import boards
from collector.contracts import Point, Reading, is_retraction
from collector.delivery import safe_transport
from collector.delivery.outbox import (
    Outbox,
    OutboxDeadLetters,
    OutboxFull,
    OutboxItem,
    OutboxWorker,
)
from collector.egov import datafile, messages, opendata
from collector.egov.options import EgovOptions
from collector.plugins import Env, Plugin, register
from collector.review.marks import FLAG, Mark, Review
from collector.review.marks import path as review_path
from quantrac_common.files import write_atomic

log = logging.getLogger("quantrac.collector.egov")
CONSUMER = "egov"
READ_BATCH = 2000
OPEN_DATA_CHECK_S = 60.0
OPEN_DATA_RETRY_S = 300.0
CORRECTION_RETRY_S = 30.0


def spool_consumers(o: EgovOptions) -> tuple[str, ...]:
    """The spool cursors this module reads with: its own when enabled."""
    return (CONSUMER,) if o.enabled else ()


def naming(o: EgovOptions, env: Env) -> datafile.Naming:
    reg = boards.registry(env.registry)
    return datafile.Naming(
        o.province or datafile.ascii_code(reg.province) or "Province",
        o.facility or datafile.ascii_code(reg.network), ZoneInfo(reg.timezone),
        datafile.parse_codes(o.station_codes, reg.ids()),
        {st.id: datafile.sent_channels(st) for st in reg.stations})


def check(o: EgovOptions, env: Env) -> None:
    """Refuse at load what would fail later: bad URLs, codes, symbols, formats."""
    if not o.enabled:
        return
    naming(o, env)
    datafile.load_symbols(o.symbols or None)
    load_secrets(secrets_path(o, env))
    if o.ftp_url and not o.ftp_url.startswith(("ftp://", "ftps://")):
        raise ValueError(f"[egov] ftp_url = {o.ftp_url!r}: must start with ftp:// or ftps://")
    if o.ftp_url and not o.ftp_allow_plain and plain_ftp(o.ftp_url):
        raise ValueError(f"[egov] ftp_url = {o.ftp_url!r}: plain FTP sends the login and the files "
                    "in clear text; use ftps://, or set [egov] ftp_allow_plain = true if the "
                    "department's server has no TLS")
    for ca, what in ((o.ftp_ca_file, "ftp_ca_file"), (o.api_ca_file, "api_ca_file")):
        if ca:
            safe_transport.check_ca_file(f"[egov] {what}", ca)
    if o.api_url and not (o.token_url and o.client_id):
        raise ValueError(f"[egov] api_url = {o.api_url!r}: needs token_url and client_id (OAuth2 "
                    "client credentials)")
    for url, what, carries in ((o.api_url, "api_url", "the bearer token"),
                               (o.token_url, "token_url", "the client secret")):
        if url and (problem := safe_transport.https_url(f"[egov] {what}", url, carries)):
            raise ValueError(problem)
    for f in o.open_data_formats:
        if f not in opendata.FORMATS:
            raise ValueError(f"[egov] open_data_formats: {f!r} is not one of csv, json")
    for lang in o.open_data_langs:
        if lang not in opendata.LANGS:
            raise ValueError(f"[egov] open_data_langs: {lang!r} is not one of vi, en")


def plain_ftp(url: str) -> bool:
    """ftp:// to a host other than this machine: the login crosses the network in clear."""
    parts = urlsplit(url)
    return parts.scheme == "ftp" and not safe_transport.is_loopback(parts.hostname)


def secrets_path(o: EgovOptions, env: Env) -> Path:
    return Path(o.secrets) if o.secrets else env.run_dir / "secrets" / "egov.json"


def load_secrets(path: Path) -> dict[str, str]:
    """{"ftp_password": …, "client_secret": …}; {} when the file does not exist."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable secrets file ({e})") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise ValueError(f"{path}: must be a JSON object of strings")
    return doc


def due_days(now: float, last: date | None, tz: ZoneInfo, delay_s: float,
             catchup: int) -> list[date]:
    """Local days whose open-data files are due at `now`: ended at least `delay_s` ago, after
    `last` (the newest day produced), and no more than `catchup` days back."""
    today = datetime.fromtimestamp(now - delay_s, tz).date()
    first = today - timedelta(days=catchup)
    if last is not None:
        first = max(first, last + timedelta(days=1))
    return [first + timedelta(days=i) for i in range((today - first).days)]


def build(o: EgovOptions, env: Env, spool: Any) -> EgovModule | None:
    """The module reading `spool` with its own cursor, when `[egov] enabled`."""
    return EgovModule(o, env, spool) if o.enabled else None


class EgovModule:
    def __init__(self, o: EgovOptions, env: Env, spool: Any) -> None:
        self.options, self.env, self.spool = o, env, spool
        self.registry = boards.registry(env.registry)
        self.tz = ZoneInfo(self.registry.timezone)
        self.naming = naming(o, env)
        self.symbols = datafile.load_symbols(o.symbols or None)
        self.folder = Path(o.folder) if o.folder else env.data_dir / "egov"
        self.open_data_dir = Path(o.open_data_dir) if o.open_data_dir else \
            self.folder / "open-data"
        secrets = load_secrets(secrets_path(o, env))
        deliverers: dict[str, Any] = {}
        if o.ftp_url:
            from collector.egov.ftp import FtpDeliverer

            deliverers["ftp"] = FtpDeliverer(
                o.ftp_url, o.ftp_user, secrets.get("ftp_password", ""), passive=o.ftp_passive,
                temp_suffix=o.ftp_temp_suffix, timeout_s=o.timeout_s,
                ca_file=o.ftp_ca_file or None, allow_plain=o.ftp_allow_plain)
        if o.api_url:
            from collector.egov.rest import RestDeliverer

            deliverers["api"] = RestDeliverer(
                o.api_url, o.token_url, o.client_id, secrets.get("client_secret", ""),
                scope=o.scope, timeout_s=o.timeout_s, ca_file=o.api_ca_file or None)
        self.outbox = Outbox(self.folder / "outbox", tuple(deliverers) or ("none",),
                             max_bytes=o.max_bytes, keep_s=o.keep_days * 86400)
        self.dead = OutboxDeadLetters(self.outbox.path / "dead-letters.jsonl")
        self.workers = {d: OutboxWorker(self.outbox, d, x, retry_initial_s=o.retry_initial_s,
                                        retry_max_s=o.retry_max_s)
                        for d, x in deliverers.items()}
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the reader's and the open-data thread's state
        self._threads = [threading.Thread(target=self._read_loop, name="quantrac-egov-reader",
                                          daemon=True)]
        if o.open_data_formats and o.open_data_langs:
            self._threads.append(threading.Thread(target=self._open_data_loop, daemon=True,
                                                  name="quantrac-egov-open-data"))
        self._state_path = self.folder / "state.json"
        self._newest: dict[str, int] = {}
        # (measurement, station, period, time): an hour's AQI and the day's AQI that ends with
        # it (the last hour before local midnight) share a time, and must not replace each other
        self._held: dict[tuple[str, str, str, int], Point] = {}
        self._open: dict[str, Any] = {"last_day": None, "last_error": "", "files": 0}
        self.review = Review(review_path(env.run_dir))  # operator's marks: collector/review/
        self._review_applied = 0  # the newest flag whose files were re-sent corrected
        self._stations: frozenset[str] | None = None  # a worker of several: its own
        self._next_correction = 0.0
        self._load_state()
        self.read_items = 0

    # -- lifecycle -------------------------------------------------------------------------

    def own(self, stations: frozenset[str], leader: bool) -> None:
        """One worker of several: its spool holds only its stations' files and alerts; the
        open data (every station's day, read from InfluxDB) is written by the leader alone."""
        self._stations = stations
        if not leader:
            self._threads = [t for t in self._threads if t.name != "quantrac-egov-open-data"]

    def start(self) -> None:
        for w in self.workers.values():
            w.start()
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading and delivering; what is not delivered stays in the outbox (and what
        is not read in the spool) for the next start."""
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout_s)
        for w in self.workers.values():
            w.stop(timeout_s)
        self.outbox.close()

    def stats(self) -> dict[str, Any]:
        return {"outbox": self.outbox.stats(), "read_items": self.read_items,
                "outputs": {d: w.stats() for d, w in self.workers.items()},
                "open_data": dict(self._open)}

    # -- spool → outbox --------------------------------------------------------------------

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                items, pos = self.spool.read(CONSUMER, READ_BATCH, timeout=0.5)
                self._corrections()
                if not items:
                    if pos != self.spool.cursor(CONSUMER):
                        self.spool.advance(CONSUMER, pos)  # past a segment end
                    continue
                with self._lock:
                    self._queue(self.convert(items))
                    self._save_state()
                self.spool.advance(CONSUMER, pos, len(items))
                self.read_items += len(items)
            except Exception:  # the spool keeps the items; try again shortly
                log.exception("egov: reading the spool failed; retrying")
                self._stop.wait(5.0)

    def convert(self, items: list[Reading | Point]) -> list[OutboxItem]:
        self.review.refresh()
        readings = [r for r in items if isinstance(r, Reading)]
        for r in readings:
            self._newest[r.station] = max(self._newest.get(r.station, 0), r.time)
        out: list[OutboxItem] = []
        if "ftp" in self.workers:
            out += [OutboxItem("ftp", key, text, {"path": path}) for key, path, text in
                    datafile.cycle_files(self._unflagged(readings), self.naming,
                                         self.symbols)]
        if "api" not in self.workers:
            return out
        known = set(self.registry.ids())
        for p in items:
            if not isinstance(p, Point) or p.station not in known:
                continue
            if p.measurement == "alert" and p.note is not None:
                key, doc = messages.alert_doc(p, self.registry.network,
                                              self.naming.station(p.station), self.tz)
                out.append(OutboxItem("api", key, doc))
            elif p.measurement in ("aqi", "wqi") and not is_retraction(p):
                self._held[_held_key(p)] = p  # the latest wins
        for k, p in sorted(self._held.items(), key=lambda kv: kv[0][3]):
            if p.time <= self._newest.get(p.station, 0):  # its hour's records are all in
                del self._held[k]
                got = messages.index_doc(p, self.registry.network,
                                         self.naming.station(p.station), self.tz)
                if got is not None:
                    out.append(OutboxItem("api", got[0], got[1]))
        return out

    # -- the operator's review -------------------------------------------------------------

    def _unflagged(self, readings: list[Reading]) -> list[Reading]:
        """Readings an operator flagged invalid leave the data files."""
        return [r for r in readings
                if self.review.invalid(r.station, r.param, int(r.time)) is None]

    def _corrections(self) -> None:
        """For each new flag, the data files of the record times it covers, sent again
        without the flagged parameter under a new key (`<station>/<stamp>/r<mark id>`, same
        file name: the department's copy is replaced), built from the stored readings. The
        outbox then holds both the file first sent and its correction."""
        if time.monotonic() < self._next_correction:
            return
        try:
            self.review.refresh()
            new = [m for m in self.review.marks if m.id > self._review_applied]
            for m in new:
                if "ftp" in self.workers and m.type == FLAG and \
                        (self._stations is None or m.station in self._stations):
                    with self._lock:
                        self._queue(self._corrected(m))
                self._rewrite_open_data(m)
                self._review_applied = m.id
                with self._lock:
                    self._save_state()
        except Exception as e:  # the database or the marks file: try again later
            log.error("egov: corrected data files not made yet, retrying: %s", e)
            self._next_correction = time.monotonic() + CORRECTION_RETRY_S

    def _rewrite_open_data(self, m: Mark) -> None:
        """Open-data files already written for the days a mark covers are written again
        (their review column changes); by the module that writes open data only."""
        if not any(t.name == "quantrac-egov-open-data" for t in self._threads):
            return
        last = self._open["last_day"]
        if last is None:
            return
        if m.type == FLAG:
            first = datetime.fromtimestamp(m.start + 1, self.tz).date()
            days = [first + timedelta(days=i) for i in range(
                (datetime.fromtimestamp(m.end, self.tz).date() - first).days + 1)]
        else:
            days = [date.fromisoformat(m.day)]
        station = self.registry.get(m.station)
        services = dict(self.env.services())
        for day in days:
            if day.isoformat() <= last:
                opendata.write_day(services, station, day, self.open_data_dir, self.tz,
                                   self.symbols, self.options.open_data_formats,
                                   self.options.open_data_langs, self.review)

    def _corrected(self, m: Mark) -> list[OutboxItem]:
        station = self.registry.get(m.station)
        rows = opendata.fetch(dict(self.env.services()), m.station, m.start, m.end)
        readings = self._unflagged([Reading(m.station, station.kind, param, unit, t, value,
                                            status)
                                    for t, param, value, unit, status, _qc in rows])
        out = [OutboxItem("ftp", f"{key}/r{m.id}", text, {"path": path, "corrects": key,
                                                          "review": m.id})
               for key, path, text in datafile.cycle_files(readings, self.naming,
                                                           self.symbols)]
        log.info("egov: review #%d: %d data files of %s sent again without %s", m.id,
                 len(out), m.station, m.param)
        return out

    def _queue(self, items: list[OutboxItem]) -> None:
        if not items:
            return
        try:
            self.outbox.add(items)
        except OutboxFull as e:
            log.error("egov: %s; %d items go to %s instead", e, len(items), self.dead.path)
            self.dead.add_items([(it, str(e)) for it in items])

    def _load_state(self) -> None:
        try:
            doc = json.loads(self._state_path.read_text(encoding="utf-8"))
            self._newest = {str(k): int(v) for k, v in doc.get("newest", {}).items()}
            for m, tags, fields, t in doc.get("held", []):
                held = Point(m, tags, fields, int(t))
                self._held[_held_key(held)] = held
            self._open["last_day"] = doc.get("open_data_day")
            self._review_applied = int(doc.get("review", 0))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error("egov: state %s unreadable (%s); starting without it", self._state_path, e)
        self._saved = self._state_doc()

    def _state_doc(self) -> dict[str, Any]:
        return {"newest": self._newest, "open_data_day": self._open["last_day"],
                "review": self._review_applied,
                "held": [[p.measurement, p.tags, p.fields, p.time] for p in self._held.values()]}

    def _save_state(self) -> None:
        doc = self._state_doc()
        if doc == self._saved:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self._state_path, json.dumps(doc, separators=(",", ":")).encode())
        self._saved = json.loads(json.dumps(doc))

    # -- open data -------------------------------------------------------------------------

    def _open_data_loop(self) -> None:
        wait = 1.0
        while not self._stop.wait(wait):
            last = self._open["last_day"]
            days = due_days(time.time(), date.fromisoformat(last) if last else None, self.tz,
                            self.options.open_data_delay_s, self.options.open_data_catchup_days)
            wait = OPEN_DATA_CHECK_S
            for day in days:
                if self._stop.is_set() or not self.produce_open_data(day):
                    wait = OPEN_DATA_RETRY_S
                    break

    def produce_open_data(self, day: date) -> bool:
        """Write every station's files for `day`; False (logged) when InfluxDB failed."""
        try:
            services = dict(self.env.services())  # read now: the read login may change
            n = 0
            for station in self.registry.stations:
                if self._stop.is_set():
                    return False
                n += len(opendata.write_day(services, station, day, self.open_data_dir, self.tz,
                                            self.symbols, self.options.open_data_formats,
                                            self.options.open_data_langs, self.review))
        except Exception as e:
            self._open["last_error"] = f"{day}: {e}"
            log.error("egov: open data for %s not written, retrying later: %s", day, e)
            return False
        with self._lock:
            self._open.update(last_day=day.isoformat(), last_error="",
                              files=self._open["files"] + n)
            self._save_state()
        log.info("egov: open data for %s: %d files in %s", day, n, self.open_data_dir)
        return True


register(Plugin("service", "egov", EgovOptions, build, check))


def _held_key(p: Point) -> tuple[str, str, str, int]:
    return p.measurement, p.station, p.tags.get("period", ""), p.time

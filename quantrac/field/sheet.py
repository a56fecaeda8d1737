"""The commissioning sheet: what the board found, judged against what the registry says the
station is, as a printable page and as JSON, saved under the station's folder.

A sensor passes when the board read it, at the model and address the registry gives, and every
channel's live value lies in the catalog range. The station passes when every sensor passes, the
board's config is this station's, it logged in to the broker as itself and published its test
record, and (when checked) the operator received that record.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boards
from quantrac.field.commission import Findings

PASS, FAIL, NA = "PASS", "FAIL", "n/a"


def _channel(ch: dict, reading: dict | None, sensor_ok: bool, why: str) -> dict:
    lo, hi = ch["range"]
    row = {"param": ch["param"], "unit": ch["unit"], "range": [lo, hi], "value": None}
    if reading is None:
        return {**row, "result": FAIL, "why": why or "no value for this parameter"}
    row["value"] = reading[2]
    if not sensor_ok or reading[2] is None:
        return {**row, "result": FAIL, "why": why or "no reading"}
    if reading[1] != ch["unit"]:
        return {**row, "result": FAIL,
                "why": f"board reports {reading[1]!r}, catalog {ch['unit']!r}"}
    if not lo <= reading[2] <= hi:
        return {**row, "result": FAIL, "why": f"outside the range {lo} .. {hi}"}
    return {**row, "result": PASS, "why": ""}


def _sensor(expected: dict, found: dict | None, stopped: str) -> dict:
    spec = expected["spec"]
    modbus = spec["bus"] == "modbus"
    addr = expected.get("address", spec["modbus"]["default_address"]) if modbus else None
    row = {"id": expected["id"], "model": expected["model"], "addr": addr,
           "uart": expected["uart"]}
    why = ""
    if found is None:
        why = stopped or "not in the board's config.json"
    elif found.get("model") != expected["model"]:
        why = f"board has model {found.get('model')!r}, registry {expected['model']!r}"
    elif modbus and found.get("addr") != addr:
        why = f"board polls address {found.get('addr')}, registry says {addr}"
    elif not found.get("ok"):
        why = f"no reading: {found.get('why') or 'no answer'}"
    readings = {r[0]: r for r in (found or {}).get("values", [])}
    channels = [_channel(ch, readings.get(ch["param"]) if found else None,
                         bool(found and found.get("ok")) and not why, why)
                for ch in spec["channels"]]
    ok = not why and all(c["result"] == PASS for c in channels)
    return {**row, "result": PASS if ok else FAIL, "why": why, "channels": channels}


def _check(name: str, ok: bool | None, why: str = "") -> dict:
    return {"check": name, "result": NA if ok is None else PASS if ok else FAIL, "why": why}


def _step(steps: dict, step: str, stopped: str) -> tuple[bool, str]:
    m = steps.get(step)
    if m:
        return bool(m.get("ok")), "" if m.get("ok") else m.get("why") or "failed"
    for before in ("network", "connect"):
        if before in steps and not steps[before].get("ok"):
            return False, f"{before} failed"
    return False, stopped or "not reached"


def judge(station: boards.Station, f: Findings, port: str, by: str = "",
          now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.UTC)
    stopped = "; ".join(f"{x.get('step')}: {x.get('why')}" for x in f.failures)
    found = {s["id"]: s for s in f.sensors}
    sensors = [_sensor(s, found.get(s["id"]), stopped) for s in station.sensors()]
    expected_ids = {s["id"] for s in station.sensors()}
    for extra in f.sensors:
        if extra["id"] not in expected_ids:
            sensors.append({"id": extra["id"], "model": extra.get("model"),
                            "addr": extra.get("addr"), "uart": extra.get("uart"),
                            "result": FAIL, "why": "on the board but not in the registry",
                            "channels": []})
    checks = [_check("board runs this station's config",
                     f.board.get("station") == station.id if f.board else False,
                     "" if f.board.get("station") == station.id else
                     f"board config is for {f.board.get('station')!r}" if f.board else
                     stopped or "the board reported nothing")]
    steps = {m.get("step"): m for m in f.mqtt}
    checks.append(_check(f"mqtt login as {station.id}", *_step(steps, "connect", stopped)))
    checks.append(_check("test record published", *_step(steps, "publish", stopped)))
    checks.append(_check("test record reached the operator", f.delivered, f.delivery_note))
    checks.append(_check("board finished the run", f.done, "" if f.done else
                         stopped or "the board stopped early (see console)"))
    results = [s["result"] for s in sensors] + [c["result"] for c in checks]
    return {
        "station": station.id, "name": station.name, "kind": station.kind,
        "profile": station.profile, "lat": station.lat, "lon": station.lon,
        "regulation": station.regulation, "port": port, "board": f.board,
        "when": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "by": by,
        "result": FAIL if FAIL in results else PASS,
        "sensors": sensors, "checks": checks, "notes": f.notes, "console": f.console[-40:],
    }


def _num(v) -> str:
    if v is None:
        return "-"
    return f"{round(v, 4):g}" if isinstance(v, float) else str(v)


def render(sheet: dict) -> str:
    b = sheet["board"] or {}
    out = [
        f"QUANTRAC COMMISSIONING SHEET{sheet['result']:>52}",
        f"station   {sheet['station']}  {sheet['name']}",
        f"          {sheet['kind']}, profile {sheet['profile']}, {sheet['regulation']}",
        f"location  {sheet['lat']:.5f}, {sheet['lon']:.5f}",
        f"board     {sheet['port']}  fw {b.get('fw', '?')}  {b.get('platform', '?')}"
        + (f"  uid {b['uid']}" if b.get("uid") else ""),
        f"when      {sheet['when']}" + (f"  by {sheet['by']}" if sheet["by"] else ""),
        "",
        f"{'sensor':<8}{'model':<13}{'addr':>4}  {'param':<9}{'value':>10} {'unit':<6}"
        f"{'range':>15}  result",
    ]
    for s in sheet["sensors"]:
        head = f"{s['id']:<8}{str(s['model']):<13}{_num(s['addr']):>4}  "
        if not s["channels"]:
            out.append(f"{head}{'':<41}{s['result']}  {s['why']}")
        for i, c in enumerate(s["channels"]):
            rng = f"{_num(c['range'][0])} .. {_num(c['range'][1])}"
            why = c["why"] if i == 0 or c["why"] != s["why"] else ""
            out.append(f"{head if i == 0 else ' ' * len(head)}{c['param']:<9}"
                       f"{_num(c['value']):>10} {c['unit']:<6}{rng:>15}  {c['result']}"
                       + (f"  {why}" if why else ""))
    out.append("")
    for c in sheet["checks"]:
        out.append(f"{c['check']:<68}{c['result']}" + (f"  {c['why']}" if c["why"] else ""))
    for note in sheet["notes"]:
        out.append(f"note: {note}")
    return "\n".join(out) + "\n"


def save(sheet: dict, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = "commission-" + sheet["when"].replace("-", "").replace(":", "")
    txt, js = directory / f"{stem}.txt", directory / f"{stem}.json"
    txt.write_text(render(sheet), encoding="utf-8")
    js.write_text(json.dumps(sheet, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return txt, js

"""The Node-RED flows of `quantrac bench ingest` (e) and (e2), as its users build this job.

(e)  mqtt in (QoS 1, persistent session) → json → function (records → points) → influxdb batch
(e2) the same with a join (500 messages or 0.5 s) before the function.

The flow holds only those nodes. What the bench needs to time it is a local node file in the
userDir (`PROBE_JS`), outside the flow: POST /quantrac-bench/connect connects the broker (so
Node-RED's own start is not timed, as a's and c's clocks start at connect), and an `onComplete`
hook counts each message once its write is answered or failed, which GET
/quantrac-bench/progress returns. A hook sees the message itself, where a `complete` node would
get a deep copy of every batch's points and charge Node-RED for the bench's bookkeeping.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

TOPIC = "quantrac/v1/+/data"
JOIN_COUNT = 500
JOIN_TIMEOUT_S = 0.5
PROGRESS_PATH = "/quantrac-bench/progress"
CONNECT_PATH = "/quantrac-bench/connect"
PIPELINE = ("qb-mqtt", "qb-json", "qb-join", "qb-points", "qb-write")

# Records → points for `influxdb batch` (1.x): the same tags and fields as variants b and c.
# Numbers go out as floats (node-influx writes no integer suffix without a schema).
FLATTEN_JS = """\
const KIND = %s;
const batch = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
const points = [];
for (const m of batch) {
    for (const r of m.r) {
        for (const p in r.d) {
            const v = r.d[p];
            points.push({measurement: "reading",
                         tags: {station: m.st, kind: KIND[m.st], param: p, unit: v[1]},
                         fields: {value: v[0], status: v[2], n: v[3], flags: v[4]},
                         timestamp: r.t});
        }
    }
}
msg.payload = points;
msg.messages = batch.length;
return msg;
"""

# userDir/nodes/quantrac-bench.js: loaded by Node-RED like any local node file, given the
# node API (hooks, HTTP routes, the running nodes); it registers no node type.
PROBE_JS = """\
module.exports = function (RED) {
    const PIPELINE = %(pipeline)s;
    const progress = {ready: false, messages_ok: 0, messages_failed: 0, writes_ok: 0,
                      writes_failed: 0, errors: {}};
    RED.hooks.add("onComplete.quantracBench", function (ev) {
        const id = ev.node.id;
        const n = (ev.msg && ev.msg.messages) || 1;
        if (ev.error) {
            if (!PIPELINE.includes(id)) return;
            progress.messages_failed += n;
            if (id === "qb-write") progress.writes_failed += 1;
            const why = String(ev.error.message || ev.error).slice(0, 200);
            if (why in progress.errors || Object.keys(progress.errors).length < 5) {
                progress.errors[why] = (progress.errors[why] || 0) + 1;
            }
        } else if (id === "qb-write") {
            progress.messages_ok += n;
            progress.writes_ok += 1;
        }
    });
    RED.httpNode.get(%(progress)s, function (req, res) {
        progress.ready = ["qb-broker", "qb-mqtt", "qb-write"].every(id => RED.nodes.getNode(id));
        res.json(progress);
    });
    RED.httpNode.post(%(connect)s, function (req, res) {
        const broker = RED.nodes.getNode("qb-broker");
        if (!broker) return res.status(503).json({error: "the flow is not running"});
        broker.connect(function () {});
        res.json({connecting: true});
    });
};
"""


def probe_js() -> str:
    return PROBE_JS % {"pipeline": json.dumps(list(PIPELINE)),
                       "progress": json.dumps(PROGRESS_PATH),
                       "connect": json.dumps(CONNECT_PATH)}


def flows(env: dict[str, str], client_id: str, kinds: dict[str, str],
          batched: bool) -> tuple[list[dict], dict[str, dict]]:
    """(flows.json, flows_cred.json) for one variant; `kinds`: station id → kind tag."""
    influx = urlsplit(env["QUANTRAC_INFLUX_URL"])
    tab = {"id": "qb-tab", "type": "tab", "label": "quantrac bench ingest "
                                                   + ("(e2)" if batched else "(e)")}
    broker = {"id": "qb-broker", "type": "mqtt-broker", "name": "quantrac",
              "broker": env["QUANTRAC_MQTT_HOST"], "port": env["QUANTRAC_MQTT_PORT"],
              "clientid": client_id, "autoConnect": False, "usetls": False,
              "protocolVersion": "4", "keepalive": "60", "cleansession": False,
              "autoUnsubscribe": False, "birthTopic": "", "closeTopic": "", "willTopic": ""}
    db = {"id": "qb-influx", "type": "influxdb", "hostname": influx.hostname,
          "port": str(influx.port), "protocol": "http", "database": env["QUANTRAC_INFLUX_DB"],
          "name": "quantrac", "usetls": False, "tls": "", "influxdbVersion": "1.x"}
    pipeline = [
        {"id": "qb-mqtt", "type": "mqtt in", "z": "qb-tab", "name": "stations",
         "topic": TOPIC, "qos": "1", "datatype": "utf8", "broker": "qb-broker", "inputs": 0,
         "wires": [["qb-json"]]},
        {"id": "qb-json", "type": "json", "z": "qb-tab", "name": "", "property": "payload",
         "action": "obj", "pretty": False,
         "wires": [["qb-join" if batched else "qb-points"]]},
        {"id": "qb-points", "type": "function", "z": "qb-tab", "name": "records to points",
         "func": FLATTEN_JS % json.dumps(kinds, sort_keys=True), "outputs": 1, "noerr": 0,
         "initialize": "", "finalize": "", "libs": [], "wires": [["qb-write"]]},
        # Default retention policy: raw `reading` points live there (collector/retention.json).
        {"id": "qb-write", "type": "influxdb batch", "z": "qb-tab", "name": "",
         "influxdb": "qb-influx", "precision": "s", "retentionPolicy": "", "wires": []},
    ]
    if batched:
        pipeline.append(
            {"id": "qb-join", "type": "join", "z": "qb-tab", "name": "", "mode": "custom",
             "build": "array", "property": "payload", "propertyType": "msg", "key": "topic",
             "joiner": "\\n", "joinerType": "str", "accumulate": False,
             "timeout": str(JOIN_TIMEOUT_S), "count": str(JOIN_COUNT), "reduceRight": False,
             "useparts": False, "wires": [["qb-points"]]})
    creds = {"qb-broker": {"user": env["QUANTRAC_MQTT_COLLECTOR_USER"],
                           "password": env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"]},
             "qb-influx": {"username": env["QUANTRAC_INFLUX_WRITE_USER"],
                           "password": env["QUANTRAC_INFLUX_WRITE_PASSWORD"]}}
    for row, n in enumerate(pipeline):
        n.update(x=200, y=40 * (row + 1))  # Node-RED takes a node without a place for config
    return [tab, broker, db, *pipeline], creds


def settings_js(port: int) -> str:
    """Loopback only, no editor or admin API, nothing fetched or reported, plain credentials
    file (it is 0600 in a 0700 folder that lives for one run)."""
    return f"""module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {int(port)},
    httpAdminRoot: false,
    httpNodeRoot: "/",
    flowFile: "flows.json",
    credentialSecret: false,
    diagnostics: {{enabled: false, ui: false}},
    runtimeState: {{enabled: false, ui: false}},
    telemetry: {{enabled: false}},
    externalModules: {{autoInstall: false, palette: {{allowInstall: false}},
                       modules: {{allowInstall: false}}}},
    functionExternalModules: false,
    logging: {{console: {{level: "info", metrics: false, audit: false}}}}
}};
"""

"""Alerts and indices to the e-government endpoint through the outbox, against a real HTTP
server on loopback that answers 500s, stalls past the client's timeout, lets the OAuth2 token
expire and refuses a document with a reason: every document arrives once, in order; the
refused one is in the dead letters with the server's reason. A redirect from either endpoint
is not followed: the documents stay in the outbox and the host it names gets nothing; plain
http to another machine is refused when the config is loaded."""

from __future__ import annotations

import json

import pytest
from collector_live import wait_for
from loopback_peers import ApiPeer, HttpRecorder

from collector.config import ConfigError, Settings
from collector.delivery.outbox import Outbox, OutboxItem, OutboxWorker
from collector.egov.rest import RestDeliverer

ENV = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
       "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
       "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
       "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}


def docs(*stations: str) -> list[OutboxItem]:
    return [OutboxItem("api", f"alert/{st}/rule/{i}/open", {"type": "alert", "station": st,
                                                            "n": i})
            for i, st in enumerate(stations)]


def test_500s_a_stall_and_an_expired_token_lose_and_double_nothing(tmp_path):
    api = ApiPeer()
    api.refuse["pq-air-13"] = (422, "station pq-air-13 is not registered with the province")
    box = Outbox(tmp_path, ("api",))
    rest = RestDeliverer(api.url, api.token_url, api.client_id, api.client_secret,
                         scope="monitoring.write", timeout_s=0.5)
    worker = OutboxWorker(box, "api", rest, retry_initial_s=0.05, retry_max_s=0.2)
    worker.start()
    try:
        api.script = [("500", 0), ("500", 0), ("stall", 1.0)]
        box.add(docs("pq-air-01", "pq-air-02"))
        wait_for(lambda: len(api.accepted_keys()) == 2,
                 lambda: f"two documents, got {api.accepted_keys()}")
        # the stalled request was processed after the client gave up: the retry repeats its
        # key, which the server recognises (idempotency), so nothing is stored twice
        wait_for(lambda: box.pending("api") == 0, "the outbox to empty")
        assert api.answers[:2] == [500, 500]
        wait_for(lambda: api.repeats == [api.accepted_keys()[0]], "the stalled request to finish")

        api.expire_tokens()  # the cached token is no longer valid: 401, refresh once, retry
        box.add(docs("pq-air-03", "pq-air-13", "pq-air-04")[0:3])
        wait_for(lambda: box.pending("api") == 0, "the outbox to empty again")
    finally:
        worker.stop()
        box.close()
        api.close()
    assert [doc["station"] for _, doc in api.accepted] == \
        ["pq-air-01", "pq-air-02", "pq-air-03", "pq-air-04"]
    assert len(api.accepted_keys()) == len(set(api.accepted_keys()))
    assert 401 in api.answers and rest.tokens_fetched == 2
    assert all(r["basic"] == "quantrac:pw-123" and r["form"] == {
        "grant_type": "client_credentials", "scope": "monitoring.write"}
        for r in api.token_requests)
    (dead,) = [json.loads(line) for line in (tmp_path / "dead-letters.jsonl").open()]
    assert dead["body"]["station"] == "pq-air-13"
    assert dead["reason"].endswith(
        "HTTP 422: station pq-air-13 is not registered with the province")


def test_wrong_client_credentials_keep_the_documents_for_an_operator(tmp_path):
    api = ApiPeer()
    box = Outbox(tmp_path, ("api",))
    rest = RestDeliverer(api.url, api.token_url, api.client_id, "wrong", timeout_s=2)
    worker = OutboxWorker(box, "api", rest, retry_initial_s=0.05, retry_max_s=0.1)
    worker.start()
    try:
        box.add(docs("pq-air-01"))
        wait_for(lambda: len(api.token_requests) >= 2, "a few token attempts")
        stats = worker.stats()
        assert stats["state"] == "operator" and "invalid_client" in stats["last_error"]
        assert api.accepted == [] and box.pending("api") == 1
        assert not (tmp_path / "dead-letters.jsonl").exists()  # kept, not refused
        rest.client_secret = api.client_secret  # the operator fixes the secret
        wait_for(lambda: box.pending("api") == 0, "delivery after the fix")
    finally:
        worker.stop()
        box.close()
        api.close()
    assert len(api.accepted) == 1


def test_an_https_endpoint_of_the_departments_ca_gets_the_documents(tmp_path):
    from quantrac.field.tls import Authority

    ca = Authority.ensure(tmp_path / "ca.crt", tmp_path / "ca.key")
    ca.server(tmp_path, ["127.0.0.1"])
    api = ApiPeer(tls=(tmp_path / "server.crt", tmp_path / "server.key"))
    assert api.url.startswith("https://")
    box = Outbox(tmp_path / "outbox", ("api",))
    worker = None
    try:
        for ca_file, delivered in ((None, False), (str(tmp_path / "ca.crt"), True)):
            rest = RestDeliverer(api.url, api.token_url, api.client_id, api.client_secret,
                                 timeout_s=5, ca_file=ca_file)
            worker = OutboxWorker(box, "api", rest, retry_initial_s=0.05, retry_max_s=0.2)
            worker.start()
            if not delivered:  # the system's CAs do not know the department's: kept
                box.add(docs("pq-air-01", "pq-air-02"))
                wait_for(lambda w=worker: w.stats()["state"] == "operator", "the operator error")
                assert "certificate does not verify" in worker.stats()["last_error"]
                assert box.pending("api") == 2 and api.accepted == []
            else:
                wait_for(lambda: box.pending("api") == 0, "both documents over HTTPS")
            worker.stop()
            worker = None
    finally:
        if worker is not None:
            worker.stop()
        box.close()
        api.close()
    assert [doc["station"] for _key, doc in api.accepted] == ["pq-air-01", "pq-air-02"]


@pytest.mark.parametrize("endpoint, status", [("api_url", 302), ("token_url", 302),
                                              ("api_url", 307), ("token_url", 303)])
def test_a_redirect_keeps_the_documents_and_the_host_it_names_gets_nothing(tmp_path, endpoint,
                                                                          status):
    api, elsewhere = ApiPeer(), HttpRecorder()
    target = f"{elsewhere.url}/{'ingest' if endpoint == 'api_url' else 'token'}"
    redirecting = HttpRecorder(status, {"Location": target})
    urls = {"api_url": api.url, "token_url": api.token_url, endpoint: f"{redirecting.url}/x"}
    box = Outbox(tmp_path, ("api",))
    rest = RestDeliverer(urls["api_url"], urls["token_url"], api.client_id, api.client_secret,
                         timeout_s=2)
    worker = OutboxWorker(box, "api", rest, retry_initial_s=0.05, retry_max_s=0.1)
    worker.start()
    try:
        box.add(docs("pq-air-01"))
        wait_for(lambda: len(redirecting.requests) >= 2 or box.pending("api") == 0,
                 "a few attempts")
        stats = worker.stats()
        assert stats["state"] == "operator"
        assert f"HTTP {status} redirect to {target}" in stats["last_error"]
        assert f"[egov] {endpoint}" in stats["last_error"]
        assert box.pending("api") == 1 and api.accepted == []
        assert not (tmp_path / "dead-letters.jsonl").exists()  # kept, not refused
        assert {r["method"] for r in redirecting.requests} == {"POST"}
        rest.url, rest.token_url = api.url, api.token_url  # the operator fixes the URL
        wait_for(lambda: box.pending("api") == 0, "delivery once the operator set the URL")
    finally:
        worker.stop()
        box.close()
        for peer in (api, elsewhere, redirecting):
            peer.close()
    assert elsewhere.requests == []  # neither the token, the secret nor the document went there
    assert [doc["station"] for _, doc in api.accepted] == ["pq-air-01"]


@pytest.mark.parametrize("key, url", [("api_url", "http://egov.angiang.gov.vn/ingest"),
                                      ("token_url", "http://10.1.2.3/oauth/token")])
def test_plain_http_to_another_machine_is_refused_at_load(tmp_path, key, url):
    good = {"api_url": "https://egov.angiang.gov.vn/ingest",
            "token_url": "https://egov.angiang.gov.vn/oauth/token"}
    egov = {"enabled": True, "client_id": "quantrac", "open_data_formats": [], **good}
    with pytest.raises(ConfigError, match=rf"\[egov\] {key} = '{url}': plain http would send"):
        Settings.from_env(ENV, tmp_path, {"egov": {**egov, key: url}})
    loopback = {"api_url": "http://127.0.0.1:8080/ingest", "token_url": "http://localhost/t"}
    assert Settings.from_env(ENV, tmp_path, {"egov": {**egov, **loopback}}).egov.api_url
    bad = {**good, key: url}
    with pytest.raises(ValueError, match=rf"\[egov\] {key} = '{url}': plain http"):
        RestDeliverer(bad["api_url"], bad["token_url"], "quantrac", "s")


def test_the_last_hours_aqi_before_local_midnight_is_sent_beside_the_days(tmp_path):
    # The day's AQI ends with its last hour: both points share a time and a station; the
    # hour's must not be replaced by the day's while it waits for its hour's records.
    from collector.config import Settings
    from collector.contracts import Point, Reading
    from collector.egov.plugin import EgovModule

    env = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
           "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
           "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:1", "QUANTRAC_INFLUX_DB": "quantrac",
           "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}
    secret = tmp_path / "egov-secrets.json"
    secret.write_text(json.dumps({"client_secret": "s"}))
    settings = Settings.from_env(env, tmp_path, {"egov": {
        "enabled": True, "secrets": str(secret), "api_url": "http://127.0.0.1:1/api",
        "token_url": "http://127.0.0.1:1/token", "client_id": "c", "open_data_formats": []}})
    module = EgovModule(settings.egov, settings.env_for("egov"), spool=None)
    midnight, st = 1796576400, "pq-air-16"  # 00:00 in Ho Chi Minh City
    hour = Point("aqi", {"station": st, "period": "hour"},
                 {"aqi": 144, "band": "poor", "dominant": "so2", "complete": True}, midnight)
    day = Point("aqi", {"station": st, "period": "day"},
                {"aqi": 90, "band": "moderate", "dominant": "pm10", "complete": True,
                 "sub_pm10": 90}, midnight)
    reading = Reading(station=st, kind="air", param="so2", unit="ug/Nm3", time=midnight,
                      value=524.1, status=0)
    try:
        keys = [it.key for it in module.convert([hour, day, reading])]
    finally:
        module.stop()
    assert [k for k in keys if k.startswith(f"aqi/{st}/{midnight}/")], keys
    # the day's VN_AQI goes to the endpoint beside the hourly one, under its own key
    assert [k for k in keys if k.startswith(f"aqi/{st}/day/{midnight}/")], keys

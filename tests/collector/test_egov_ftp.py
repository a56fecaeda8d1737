"""Data files to a real FTP server (pyftpdlib) on loopback through the outbox: an upload whose
answer is lost is checked on the server and not sent again; a refusal is kept with the
server's reply; a wrong password keeps the files for an operator; plain FTP to another machine
is refused when the config is loaded unless the operator opts in."""

from __future__ import annotations

import json

import pytest
from collector_live import wait_for
from loopback_peers import FtpPeer

from collector.config import ConfigError, Settings
from collector.delivery.outbox import Outbox, OutboxItem, OutboxWorker
from collector.egov.ftp import FtpDeliverer


def files(*names: str) -> list[OutboxItem]:
    return [OutboxItem("ftp", f"pq-air-01/{n}", f"SO2\t{n}\tug/Nm3\t{n}\t00\n",
                       {"path": f"PQ01/2026/03/02/AnGiang_PQ_PQ01_{n}.txt"}) for n in names]


def start(tmp_path, ftp: FtpPeer, password: str | None = None, timeout_s: float = 2.0,
          ca_file: str | None = None):
    box = Outbox(tmp_path / "outbox", ("ftp",))
    deliverer = FtpDeliverer(ftp.url, ftp.user, ftp.password if password is None else password,
                             timeout_s=timeout_s, ca_file=ca_file)
    worker = OutboxWorker(box, "ftp", deliverer, retry_initial_s=0.05, retry_max_s=0.2)
    worker.start()
    return box, deliverer, worker


def test_an_upload_whose_answer_is_lost_is_found_on_the_server_not_sent_twice(tmp_path):
    ftp = FtpPeer(tmp_path / "ftp")
    ftp.rnto_reply_delays = [1.5]  # the first rename completes after the client gave up
    box, _, worker = start(tmp_path, ftp, timeout_s=0.5)
    try:
        box.add(files("20260302100500", "20260302101000"))
        wait_for(lambda: box.pending("ftp") == 0, "both files delivered")
    finally:
        worker.stop()
        box.close()
        ftp.close()
    names = [f"incoming/{i.meta['path']}" for i in files("20260302100500", "20260302101000")]
    assert dict(ftp.arrivals) == {n: 1 for n in names}
    assert dict(ftp.uploads) == {f"{n}.tmp": 1 for n in names}  # nothing uploaded twice
    assert ftp.files()[files("20260302100500")[0].meta["path"]] == \
        "SO2\t20260302100500\tug/Nm3\t20260302100500\t00\n"


def test_a_server_that_refuses_a_file_leaves_its_reply_in_the_dead_letters(tmp_path):
    ftp = FtpPeer(tmp_path / "ftp", perm="elr")  # may list and read, not write
    box, _, worker = start(tmp_path, ftp)
    try:
        box.add(files("20260302100500"))
        wait_for(lambda: box.pending("ftp") == 0, "the refusal")
    finally:
        worker.stop()
        box.close()
        ftp.close()
    (dead,) = [json.loads(line) for line in (tmp_path / "outbox" / "dead-letters.jsonl").open()]
    assert dead["key"] == "pq-air-01/20260302100500"
    assert dead["reason"].startswith(f"{ftp.url.rsplit('/', 1)[0]}/incoming/PQ01/")
    assert "550" in dead["reason"] and ftp.arrivals == {}


def test_a_wrong_password_keeps_the_files_until_an_operator_fixes_it(tmp_path):
    ftp = FtpPeer(tmp_path / "ftp")
    box, deliverer, worker = start(tmp_path, ftp, password="wrong")
    try:
        box.add(files("20260302100500"))
        wait_for(lambda: worker.stats()["state"] == "operator", "the login failure")
        assert "530" in worker.stats()["last_error"] and box.pending("ftp") == 1
        deliverer.password = ftp.password
        wait_for(lambda: box.pending("ftp") == 0, "delivery after the fix")
    finally:
        worker.stop()
        box.close()
        ftp.close()
    assert sum(ftp.arrivals.values()) == 1
    assert not (tmp_path / "outbox" / "dead-letters.jsonl").exists()


def ftps_peer(tmp_path) -> tuple[FtpPeer, str]:
    """An FTPS server whose certificate our own test CA signed for 127.0.0.1; the CA's PEM."""
    from quantrac.field.tls import Authority

    ca = Authority.ensure(tmp_path / "ca.crt", tmp_path / "ca.key")
    ca.server(tmp_path, ["127.0.0.1"])
    ftp = FtpPeer(tmp_path / "ftps", tls=(tmp_path / "server.crt", tmp_path / "server.key"))
    return ftp, str(tmp_path / "ca.crt")


def test_ftps_delivers_over_tls_to_a_server_of_the_departments_ca(tmp_path):
    ftp, ca_file = ftps_peer(tmp_path)
    box, _, worker = start(tmp_path, ftp, timeout_s=5, ca_file=ca_file)
    try:
        box.add(files("20260302100500", "20260302101000"))
        wait_for(lambda: box.pending("ftp") == 0, "both files delivered over FTPS")
    finally:
        worker.stop()
        box.close()
        ftp.close()
    assert sorted(ftp.files()) == sorted(i.meta["path"] for i in files(
        "20260302100500", "20260302101000"))
    assert ftp.tls_data == {"tls": 2}  # the data connections were encrypted too


def test_ftps_to_a_server_whose_certificate_does_not_verify_keeps_the_files(tmp_path):
    ftp, _ = ftps_peer(tmp_path)
    box, _, worker = start(tmp_path, ftp, timeout_s=5)  # the system's CAs only
    try:
        box.add(files("20260302100500"))
        wait_for(lambda: worker.stats()["state"] == "operator", "the operator error")
        assert "certificate does not verify" in worker.stats()["last_error"]
        assert box.pending("ftp") == 1 and ftp.files() == {}
    finally:
        worker.stop()
        box.close()
        ftp.close()


def test_plain_ftp_to_another_machine_needs_the_operator_to_opt_in(tmp_path, caplog):
    env = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
           "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
           "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
           "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}
    egov = {"enabled": True, "ftp_url": "ftp://ftp.donre.angiang.gov.vn/incoming",
            "ftp_user": "donre", "open_data_formats": []}
    with pytest.raises(ConfigError, match=r"\[egov\] ftp_url = 'ftp://ftp\.donre\.angiang\.gov\.vn/"
                       r"incoming': plain FTP sends the login .* ftp_allow_plain = true"):
        Settings.from_env(env, tmp_path, {"egov": egov})
    with pytest.raises(ValueError, match="plain FTP sends the login in clear text"):
        FtpDeliverer(egov["ftp_url"], "donre", "pw")
    for ok in ({**egov, "ftp_allow_plain": True}, {**egov, "ftp_url": "ftps://ftp.donre.vn/in"},
               {**egov, "ftp_url": "ftp://127.0.0.1:2121/incoming"}):
        assert Settings.from_env(env, tmp_path, {"egov": ok}).egov.ftp_url == ok["ftp_url"]
    FtpDeliverer(egov["ftp_url"], "donre", "pw", allow_plain=True)
    assert "plain FTP (ftp_allow_plain)" in caplog.text  # said once more at start

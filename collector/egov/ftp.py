"""Data files → the department's FTP or FTPS server, one outbox item at a time.

"None twice": a file's name is its idempotency key, so before every upload the deliverer asks
the server (SIZE, or NLST where SIZE is not implemented) whether the file is already there
with the right size, and counts it delivered if so. That covers the upload whose answer was
lost (a timeout, a crash between the server's reply and the outbox cursor). A file is stored
as `<name><temp_suffix>` and then renamed, so the department never picks up half a file and
a file under its final name is always whole. Plain `ftp://` sends the login in clear text: it
is refused unless the server is this machine or the operator opted in (`ftp_allow_plain`).

| server answer                                     | outcome                                 |
|---------------------------------------------------|-----------------------------------------|
| stored (or already there with the right size)     | delivered                               |
| 4xx, timeout, refused or reset connection         | kept, retried with back-off             |
| 530 (not logged in), certificate does not verify | kept, retried, logged as operator error |
| other 5xx on MKD, STOR or RNTO                    | refused: dead letter with the reply     |
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import logging
import posixpath
import ssl
from urllib.parse import unquote, urlsplit

from collector.delivery.outbox import OutboxItem, Outcome
from collector.delivery.safe_transport import is_loopback

log = logging.getLogger("quantrac.collector.egov.ftp")
CONNECTION_ERRORS = (OSError, EOFError, ftplib.error_temp, ftplib.error_reply,
                     ftplib.error_proto)


class _FtpTls(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS session. vsftpd
    (`require_ssl_reuse`, on by default) and FileZilla Server refuse a data connection that
    does not ("522 SSL connection failed: session reuse required"), and ftplib's own class
    starts a new session for each."""

    def ntransfercmd(self, cmd: str, rest: int | str | None = None):  # type: ignore[override]
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            conn = self.context.wrap_socket(conn, server_hostname=self.host,  # type: ignore[attr-defined]
                                            session=self.sock.session)  # type: ignore[union-attr]
        return conn, size


class FtpDeliverer:
    name = "ftp"

    def __init__(self, url: str, user: str, password: str, *, passive: bool = True,
                 temp_suffix: str = ".tmp", timeout_s: float = 30.0,
                 ca_file: str | None = None, allow_plain: bool = False) -> None:
        """`ca_file`: ftps only, the CA the server's certificate must chain to (None: the
        system's CAs). The certificate must also name the URL's host. `allow_plain`: ftp://
        to a host other than this machine (the login in clear text), else refused."""
        parts = urlsplit(url)
        if parts.scheme not in ("ftp", "ftps") or not parts.hostname:
            raise ValueError(f"[egov] ftp_url = {url!r}: must be ftp://host[:port]/folder or "
                             "ftps://…")
        if parts.scheme == "ftp" and not is_loopback(parts.hostname):
            if not allow_plain:
                raise ValueError(f"[egov] ftp_url = {url!r}: plain FTP sends the login in clear "
                                 "text; use ftps:// or set [egov] ftp_allow_plain = true")
            log.warning("[egov] ftp_url = %r: plain FTP (ftp_allow_plain): the login and the "
                        "files cross the network in clear text", url)
        self.url = f"{parts.scheme}://{parts.hostname}:{parts.port or 21}"
        self.tls = parts.scheme == "ftps"
        self.host, self.port = parts.hostname, parts.port or 21
        self.base = unquote(parts.path).strip("/")
        self.user, self.password = user or "anonymous", password
        self.passive, self.temp_suffix, self.timeout_s = passive, temp_suffix, timeout_s
        self.ca_file = ca_file
        self._ftp: ftplib.FTP | None = None
        self._dirs: set[str] = set()

    def deliver(self, item: OutboxItem) -> Outcome:
        path = posixpath.join(self.base, item.meta["path"])
        data = str(item.body).encode("utf-8")
        for fresh in (False, True):
            reused = self._ftp is not None and not fresh
            try:
                return self._upload(path, data)
            except ftplib.error_perm as e:
                self._drop()
                reply = str(e).strip()
                if reply.startswith("530"):
                    return Outcome.retry(f"{self.url}: {reply}", operator=True)
                return Outcome.refuse(f"{self.url}/{path}: {reply}")
            except ssl.SSLCertVerificationError as e:  # a config matter: only a person fixes it
                self._drop()
                return Outcome.retry(f"{self.url}: the server's certificate does not verify "
                                     f"({e.verify_message}); check [egov] ftp_ca_file and the "
                                     "host name in ftp_url", operator=True)
            except CONNECTION_ERRORS as e:
                self._drop()
                if reused:  # the server closed an idle session: try once on a new one
                    continue
                return Outcome.retry(f"{self.url}: {type(e).__name__}: {e}")
        return Outcome.retry(f"{self.url}: could not upload {path}")

    def _upload(self, path: str, data: bytes) -> Outcome:
        ftp = self._connect()
        if self._already_there(ftp, path, len(data)):
            log.info("%s/%s already on the server with %d bytes: delivered", self.url, path,
                     len(data))
            return Outcome.ok()
        self._mkdirs(ftp, posixpath.dirname(path))
        target = path + self.temp_suffix if self.temp_suffix else path
        ftp.storbinary(f"STOR {target}", io.BytesIO(data))
        if self.temp_suffix:
            ftp.rename(target, path)
        return Outcome.ok()

    def _connect(self) -> ftplib.FTP:
        if self._ftp is not None:
            return self._ftp
        ftp: ftplib.FTP
        if self.tls:
            ftp = _FtpTls(context=ssl.create_default_context(cafile=self.ca_file),
                          timeout=self.timeout_s)
        else:
            ftp = ftplib.FTP(timeout=self.timeout_s)
        try:
            ftp.connect(self.host, self.port)
            ftp.login(self.user, self.password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.set_pasv(self.passive)
            ftp.voidcmd("TYPE I")
        except BaseException:
            ftp.close()
            raise
        self._ftp = ftp
        self._dirs.clear()
        return ftp

    def _already_there(self, ftp: ftplib.FTP, path: str, size: int) -> bool:
        try:
            return ftp.size(path) == size
        except ftplib.error_perm as e:
            reply = str(e)
            if reply.startswith(("500", "502", "504")):  # SIZE not implemented: list instead
                try:
                    names = ftp.nlst(posixpath.dirname(path) or ".")
                except ftplib.error_perm:
                    return False
                return any(posixpath.basename(n) == posixpath.basename(path) for n in names)
            return False  # 550: no such file

    def _mkdirs(self, ftp: ftplib.FTP, folder: str) -> None:
        parts = [p for p in folder.split("/") if p]
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self._dirs:
                continue
            try:
                ftp.mkd(sub)
            except ftplib.error_perm as e:
                if not str(e).startswith("550"):  # 550: it exists already
                    raise
            self._dirs.add(sub)

    def _drop(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            with contextlib.suppress(OSError):
                ftp.close()

    def close(self) -> None:
        if self._ftp is not None:
            try:
                self._ftp.quit()
            except (*CONNECTION_ERRORS, ftplib.error_perm):
                pass
        self._drop()

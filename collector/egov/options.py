"""[egov] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _opt(default, lo=None, hi=None, doc=""):
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class EgovOptions:
    """[egov]"""

    enabled: bool = _opt(False, doc="run the e-gov module")
    secrets: str = _opt("", doc="JSON file with ftp_password, client_secret; "
                        "empty: <run_dir>/secrets/egov.json")
    folder: str = _opt("", doc="outbox, state, dead letters; empty: <data_dir>/egov")
    province: str = _opt("", doc="province code in file names; empty: the registry's province")
    facility: str = _opt("", doc="facility code in file names; empty: the registry's network")
    station_codes: tuple[str, ...] = _opt((), doc="'<station>=<code>' codes the department "
                                          "assigned; a station without one uses its id")
    symbols: str = _opt("", doc="parameter -> symbol table (JSON); empty: egov/symbols.json")
    ftp_url: str = _opt("", doc="ftp:// or ftps:// server and base folder; empty: no files")
    ftp_user: str = _opt("", doc="FTP login")
    ftp_passive: bool = _opt(True, doc="passive mode")
    ftp_temp_suffix: str = _opt(".tmp", doc="upload under name+suffix, then rename")
    ftp_ca_file: str = _opt("", doc="ftps: PEM file of the CA that signed the server's "
                            "certificate (a department's own CA); empty: the system's CAs")
    ftp_allow_plain: bool = _opt(False, doc="allow ftp:// to a server other than this "
                                 "machine: the login and files in clear text")
    api_url: str = _opt("", doc="REST endpoint for alerts and hourly indices; empty: none")
    token_url: str = _opt("", doc="OAuth2 token endpoint (client credentials)")
    api_ca_file: str = _opt("", doc="https: PEM file of the CA that signed the endpoints' "
                            "certificates (a department's own CA); empty: the system's CAs")
    client_id: str = _opt("", doc="OAuth2 client id")
    scope: str = _opt("", doc="OAuth2 scope; empty: none asked")
    open_data_dir: str = _opt("", doc="daily CSV/JSON files; empty: <folder>/open-data")
    open_data_formats: tuple[str, ...] = _opt(("csv", "json"), doc="csv and/or json")
    open_data_langs: tuple[str, ...] = _opt(("vi", "en"), doc="header languages: vi, en")
    open_data_delay_s: float = _opt(3600.0, 0, 86400, "wait after local midnight")
    open_data_catchup_days: int = _opt(7, 0, 366, "missed days produced at start")
    timeout_s: float = _opt(30.0, 0.1, 600, "one FTP session step or HTTP request")
    retry_initial_s: float = _opt(1.0, 0.01, 3600, "first back-off")
    retry_max_s: float = _opt(300.0, 0.01, 86400, "longest back-off")
    max_bytes: int = _opt(1 << 30, 1 << 16, 1 << 40, "disk the outbox may use")
    keep_days: float = _opt(7.0, 0, 3650, "delivered items kept (their keys are not sent again)")

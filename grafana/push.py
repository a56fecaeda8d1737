"""`quantrac grafana push`: the dashboards into a running Grafana through its HTTP API with
grafana-client and a service-account token: the folder is found by title (created when
missing), and each dashboard is written only when it differs from what Grafana holds, so a
second push changes nothing. `dry_run` sends no request at all and says what would be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from grafana.provisioning import FOLDER

VOLATILE = ("id", "version")  # what Grafana sets itself on every save
MESSAGE = "quantrac grafana push"


class PushError(RuntimeError):
    """Grafana refused or could not be reached; the message says which and what to do."""


@dataclass(frozen=True)
class Outcome:
    uid: str
    title: str
    action: str  # created, updated, unchanged, "would push"


def _same(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    strip = lambda d: {k: v for k, v in d.items() if k not in VOLATILE}  # noqa: E731
    return strip(ours) == strip(theirs)


def _folder_uid(api: GrafanaApi, title: str) -> tuple[str, bool]:
    for f in api.folder.get_all_folders():
        if f.get("title") == title:
            return f["uid"], False
    return api.folder.create_folder(title)["uid"], True


def _existing(api: GrafanaApi, uid: str) -> dict[str, Any] | None:
    try:
        return api.dashboard.get_dashboard(uid)
    except GrafanaClientError as e:
        if e.status_code == 404:
            return None
        raise


def push(dashboards: list[dict[str, Any]], url: str, token: str, folder: str = FOLDER,
         dry_run: bool = False, timeout: float = 10.0) -> tuple[list[Outcome], str]:
    """Upsert `dashboards` into `folder`; (one Outcome per dashboard, what happened to the
    folder: found, created, or "would use")."""
    if dry_run:
        return [Outcome(d["uid"], d.get("title", ""), "would push") for d in dashboards], \
            "would use"
    if not token:
        raise PushError("no API token: pass --token or set QUANTRAC_GRAFANA_TOKEN "
                        "(a service-account token with the Editor role)")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    try:
        folder_uid, created = _folder_uid(api, folder)
        out = []
        for doc in dashboards:
            held = _existing(api, doc["uid"])
            if held is not None and _same(doc, held.get("dashboard", {})) and \
                    held.get("meta", {}).get("folderUid") == folder_uid:
                out.append(Outcome(doc["uid"], doc.get("title", ""), "unchanged"))
                continue
            body = {"dashboard": {**doc, "id": None}, "folderUid": folder_uid,
                    "overwrite": True, "message": MESSAGE}
            api.dashboard.update_dashboard(body)
            out.append(Outcome(doc["uid"], doc.get("title", ""),
                               "created" if held is None else "updated"))
        return out, "created" if created else "found"
    except GrafanaUnauthorizedError:
        raise PushError(f"{url}: the token was refused (401); create a service-account token "
                        "with the Editor role") from None
    except GrafanaException as e:
        raise PushError(f"{url}: Grafana answered {e.status_code}: {e.message}") from None
    except requests.RequestException as e:
        raise PushError(f"{url}: Grafana is unreachable ({e.__class__.__name__}: {e})") from None

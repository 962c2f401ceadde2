"""``sandbox.json``: how other processes find a running sandbox.

Written by the server once it is listening, removed when it stops. Holds the instance URL, the CA bundle
to verify it with, the client credentials to get a token with, and the server's pid.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

INFO_FILE: Final = "sandbox.json"


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    instance_url: str
    ca_bundle: str
    client_id: str
    client_secret: str
    pid: int

    def connection(self) -> dict[str, object]:
        """An Airflow connection (JSON form) of type ``salesforce`` for this sandbox (operations.md)."""
        return {
            "conn_type": "salesforce",
            "login": self.client_id,
            "password": self.client_secret,
            "extra": {"instance_url": self.instance_url, "ca_bundle": self.ca_bundle},
        }


def info_path(state_dir: Path | str) -> Path:
    return Path(state_dir) / INFO_FILE


def write_info(state_dir: Path | str, info: SandboxInfo) -> Path:
    """Write atomically, so that a reader never sees half a file."""
    path = info_path(state_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_info(state_dir: Path | str) -> SandboxInfo | None:
    """The running sandbox's info, or None when there is no (complete) file."""
    path = info_path(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        return SandboxInfo(
            instance_url=str(data["instance_url"]),
            ca_bundle=str(data["ca_bundle"]),
            client_id=str(data["client_id"]),
            client_secret=str(data["client_secret"]),
            pid=int(data["pid"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def remove_info(state_dir: Path | str, pid: int) -> None:
    """Remove the file if it still describes process ``pid`` (a newer server may have replaced it)."""
    current = read_info(state_dir)
    if current is not None and current.pid == pid:
        info_path(state_dir).unlink(missing_ok=True)

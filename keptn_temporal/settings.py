"""Process settings, read once from the environment.

Every replica of the API and the worker reads the same variables; nothing here is per-replica state
except the listen port. Secrets that must be stable across restarts (API token, encryption key) are
generated once and kept in the data dir so that a second `make up` finds them again.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from keptn.durations import parse_go_duration

STREAM_NAME = "KEPTN"
STREAM_SUBJECTS = ["sh.keptn.>"]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # Write-then-rename so two processes starting at once never read a half-written token.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(value + "\n")
    tmp.chmod(0o600)
    if path.exists():
        tmp.unlink()
        return path.read_text().strip()
    tmp.rename(path)
    return value


def _duration_s(text: str) -> float:
    """Keptn's settings are Go durations ("10m", "1h30m")."""
    return parse_go_duration(text).total_seconds()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    api_host: str
    api_port: int
    api_token: str
    api_token_generated: bool
    database_url: str
    secret_key: str
    temporal_address: str | None  # None: start the embedded dev server
    temporal_namespace: str
    temporal_port: int
    temporal_ui_port: int
    task_queue: str
    nats_url: str | None  # None: start the embedded nats-server
    nats_port: int
    stream_name: str = STREAM_NAME
    # JetStream de-duplicates by CloudEvent id within this window; it must outlast any client retry horizon.
    stream_duplicate_window_s: float = 2 * 3600
    stream_max_age_s: float = 30 * 24 * 3600
    max_event_size_kb: int = 64
    # How long a stopping worker lets in-flight activities finish before cancelling them (they are then
    # retried on another worker). Pod terminationGracePeriodSeconds must exceed it.
    worker_grace_s: float = 30.0
    # Workflows kept in the worker's cache (Temporal's sticky execution). 0 turns the cache off: every
    # workflow task then replays from history — slower, but no task ever waits for a dead worker's sticky
    # queue to time out (Temporal's time-skipping test server does not reroute those).
    worker_cached_workflows: int = 1000
    # When a worker makes its build the deployment's current version: always | bootstrap | never
    # (worker/main.py `_promote`). `up` runs one worker and says always; rollouts of several say never.
    worker_promote: str = "bootstrap"
    # KEPTN_WORKER_VERSIONING=false runs unversioned workers: only for Temporal servers without Worker
    # Deployments (the time-skipping test server). Never mix versioned and unversioned workers on one queue.
    worker_versioning: bool = True
    # Keptn's TASK_STARTED_WAIT_DURATION: a task nobody answers times the sequence out.
    task_started_wait_s: float = 600.0
    # Our fix of Keptn #7407: a task that was started but never finished also times out (approvals excepted).
    task_finished_wait_s: float = 3 * 3600.0
    keptn_namespace: str = "keptn"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def effective_nats_url(self) -> str:
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"

    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _promote_policy(value: str) -> str:
    if value not in ("always", "bootstrap", "never"):
        raise ValueError(f"KEPTN_WORKER_PROMOTE must be always, bootstrap or never, not {value!r}")
    return value


def load_settings() -> Settings:
    data_dir = Path(_env("KEPTN_DATA_DIR", ".data")).resolve()  # type: ignore[arg-type]
    token = _env("KEPTN_API_TOKEN")
    generated = token is None
    if token is None:
        token = _read_or_create(data_dir / "api-token", lambda: secrets.token_urlsafe(32))
    secret_key = _env("KEPTN_SECRET_KEY") or _read_or_create(
        data_dir / "secret.key", lambda: Fernet.generate_key().decode()
    )
    return Settings(
        data_dir=data_dir,
        api_host=_env("KEPTN_API_HOST", "127.0.0.1"),  # type: ignore[arg-type]
        api_port=int(_env("KEPTN_API_PORT", "8080")),  # type: ignore[arg-type]
        api_token=token,
        api_token_generated=generated,
        database_url=_env("KEPTN_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'keptn.db'}"),  # type: ignore[arg-type]
        secret_key=secret_key,
        temporal_address=_env("TEMPORAL_ADDRESS"),
        temporal_namespace=_env("TEMPORAL_NAMESPACE", "default"),  # type: ignore[arg-type]
        temporal_port=int(_env("KEPTN_TEMPORAL_PORT", "7233")),  # type: ignore[arg-type]
        temporal_ui_port=int(_env("KEPTN_TEMPORAL_UI_PORT", "8233")),  # type: ignore[arg-type]
        task_queue=_env("KEPTN_TASK_QUEUE", "keptn-control-plane"),  # type: ignore[arg-type]
        nats_url=_env("NATS_URL"),
        # 4222 is taken by a system NATS on many machines; the embedded one gets its own port.
        nats_port=int(_env("KEPTN_NATS_PORT", "4322")),  # type: ignore[arg-type]
        max_event_size_kb=int(_env("MAX_EVENT_SIZE_KB", "64")),  # type: ignore[arg-type]
        worker_grace_s=float(_env("KEPTN_WORKER_GRACE_S", "30")),  # type: ignore[arg-type]
        worker_cached_workflows=int(_env("KEPTN_WORKER_CACHED_WORKFLOWS", "1000")),  # type: ignore[arg-type]
        worker_versioning=_env("KEPTN_WORKER_VERSIONING", "true").lower() not in ("0", "false", "no", "off"),  # type: ignore[union-attr]
        worker_promote=_promote_policy(_env("KEPTN_WORKER_PROMOTE", "bootstrap")),  # type: ignore[arg-type]
        task_started_wait_s=_duration_s(_env("TASK_STARTED_WAIT_DURATION", "10m")),  # type: ignore[arg-type]
        task_finished_wait_s=_duration_s(_env("TASK_FINISHED_WAIT_DURATION", "3h")),  # type: ignore[arg-type]
    )

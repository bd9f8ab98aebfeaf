"""Plain records returned by the repositories (no ORM objects leak out of store/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class GitSettings:
    """What Keptn keeps of a project's upstream. Token/private key are stored encrypted and never returned."""

    remote_url: str = ""
    user: str = ""
    proxy_url: str = ""
    proxy_scheme: str = ""
    proxy_user: str = ""
    insecure_skip_tls: bool = False
    secret: dict[str, str] = field(default_factory=dict)  # token, privateKey, ... (write-only)


@dataclass
class ServiceRecord:
    name: str
    created_at: datetime
    deployed_image: str = ""
    # "<event type>" -> {"eventId", "keptnContext", "time"}; kept current by the sequence engine
    last_event_types: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class StageRecord:
    name: str
    services: list[ServiceRecord] = field(default_factory=list)


@dataclass
class ProjectRecord:
    name: str
    shipyard: str  # plain YAML
    shipyard_version: str
    created_at: datetime
    git: GitSettings
    stages: list[StageRecord] = field(default_factory=list)


@dataclass
class ResourceRecord:
    uri: str
    content: bytes
    commit_id: str
    stage: str | None
    service: str | None


@dataclass
class SecretRecord:
    name: str
    scope: str
    keys: list[str]


@dataclass
class EventQuery:
    """Filters of GET /api/mongodb-datastore/event (all optional, ANDed)."""

    keptn_context: str | None = None
    type: str | None = None
    project: str | None = None
    stage: str | None = None
    service: str | None = None
    event_id: str | None = None
    source: str | None = None
    from_time: datetime | None = None  # inclusive lower bound on event time
    before_time: datetime | None = None  # exclusive upper bound
    root: bool = False  # only the first stored event of each keptnContext
    offset: int = 0
    limit: int = 20

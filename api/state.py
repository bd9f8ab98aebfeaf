"""What one API replica holds: connections and repositories, nothing another replica needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventbus.emitter import EventEmitter
from keptn_temporal.settings import Settings
from store.db import Database
from store.events import EventRepository
from store.projects import ProjectRepository
from store.resources import ResourceRepository
from store.secrets import SecretRepository
from store.sequences import SequenceRepository, TriggeredEventRepository
from store.uniform import IntegrationRepository, LogRepository


@dataclass
class Readiness:
    """Flipped off at SIGTERM before anything else, so the gateway stops sending new requests here."""

    started: bool = False
    stopping: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.started and not self.stopping


@dataclass
class ControlPlane:
    settings: Settings
    db: Database
    projects: ProjectRepository
    resources: ResourceRepository
    secrets: SecretRepository
    events: EventRepository
    sequences: SequenceRepository
    triggered: TriggeredEventRepository
    integrations: IntegrationRepository
    logs: LogRepository
    emitter: EventEmitter
    readiness: Readiness

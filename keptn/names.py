"""Keptn entity names (projects, stages, services) and the messages Keptn 1.4.5 returns for bad ones.

Sources: go-utils `pkg/lib/keptn/keptn_base.go` (`ValidateKeptnEntityName`, `ValidateUnixDirectoryName`) and
shipyard-controller `internal/handler/{projecthandler,servicehandler}.go`, `internal/common/keptn_helpers.go`.
"""

from __future__ import annotations

import re

from keptn.errors import KeptnValidationError

# Keptn's regex, applied by Keptn as "leftmost match must cover the whole name"; for this pattern that is
# exactly a full match of either alternative.
ENTITY_NAME_RE = re.compile(r"(^[a-z][a-z0-9-]*[a-z0-9]$)|(^[a-z][a-z0-9]*)")

PROJECT_NAME_MAX_SIZE = 200
SERVICE_NAME_MAX_SIZE = 43

_ENTITY_CONVENTIONS = (
    "Keptn relies on the following conventions: "
    "start with a lower case letter, then lower case letters, numbers, and hyphens are allowed.\n"
)
_SERVICE_NAME_FORBIDDEN = ("/", ">", "<", "|", ":", "&")


def is_valid_entity_name(name: object) -> bool:
    return isinstance(name, str) and ENTITY_NAME_RE.fullmatch(name) is not None


def _byte_len(name: str) -> int:
    # Go's len() counts UTF-8 bytes; using the same unit keeps "too long" vs "invalid" decisions identical.
    return len(name.encode("utf-8", errors="surrogatepass"))


def validate_project_name(name: str | None) -> None:
    if not name:
        raise KeptnValidationError("project name missing")
    if _byte_len(name) > PROJECT_NAME_MAX_SIZE:
        raise KeptnValidationError(f"project name exceeds maximum size of {PROJECT_NAME_MAX_SIZE} characters")
    if not is_valid_entity_name(name):
        raise KeptnValidationError("provided project name is not a valid Keptn entity name")


def stage_name_error(name: str) -> str:
    """Keptn's text for a stage name that is not an entity name (shipyard validation)."""
    return (
        f"Stage {name} contains upper case letter(s) or special character(s).\n"
        + _ENTITY_CONVENTIONS
        + "Please update stage name in your shipyard and try again."
    )


def validate_stage_name(name: str | None) -> None:
    # Keptn only validates stage names inside a shipyard; "stage name missing" mirrors the project wording.
    if not name:
        raise KeptnValidationError("stage name missing")
    if not is_valid_entity_name(name):
        raise KeptnValidationError(stage_name_error(name))


def validate_service_name(name: str | None) -> None:
    """Keptn 1.4.5 rules for a new service: non-empty, <= 43 bytes, a valid Unix directory name.

    Keptn does NOT apply the entity-name regex to services (neither the shipyard-controller nor the CLI
    do), so neither do we: names such as `my_Service` are accepted, exactly as in Keptn.
    """
    if not name:
        raise KeptnValidationError("must provide a service name")
    if _byte_len(name) > SERVICE_NAME_MAX_SIZE:
        # Keptn says "project name exceeds ..." here (a copy-paste slip); we name the right entity.
        raise KeptnValidationError(f"service name exceeds maximum size of {SERVICE_NAME_MAX_SIZE} characters")
    if name in (".", "..") or any(c in name for c in _SERVICE_NAME_FORBIDDEN):
        raise KeptnValidationError(
            "Service name contains special character(s). "
            "The service name has to be a valid Unix directory name. For details see "
            "https://www.cyberciti.biz/faq/linuxunix-rules-for-naming-file-and-directory-names/"
        )

from __future__ import annotations

import pytest

from keptn.errors import KeptnValidationError
from keptn.names import (
    PROJECT_NAME_MAX_SIZE,
    SERVICE_NAME_MAX_SIZE,
    is_valid_entity_name,
    validate_project_name,
    validate_service_name,
    validate_stage_name,
)

ENTITY_CONVENTIONS = (
    "Keptn relies on the following conventions: "
    "start with a lower case letter, then lower case letters, numbers, and hyphens are allowed.\n"
)


@pytest.mark.parametrize("name", ["a", "ab", "a1", "a-b", "sockshop", "delivery-direct", "a--b", "x9-9"])
def test_valid_entity_names(name: str) -> None:
    assert is_valid_entity_name(name)


@pytest.mark.parametrize(
    "name", ["", "A", "aB", "1a", "-a", "a-", "a_b", "a.b", "a b", "ab\n", "\u00e4b", "a/b", None, 5]
)
def test_invalid_entity_names(name: object) -> None:
    assert not is_valid_entity_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "project name missing"),
        ("", "project name missing"),
        ("a" * (PROJECT_NAME_MAX_SIZE + 1), "project name exceeds maximum size of 200 characters"),
        # Go measures bytes: 101 two-byte characters are "too long" before they are "invalid".
        ("\u00e4" * 101, "project name exceeds maximum size of 200 characters"),
        ("Sockshop", "provided project name is not a valid Keptn entity name"),
        ("sock_shop", "provided project name is not a valid Keptn entity name"),
    ],
)
def test_project_name_errors(name: str | None, message: str) -> None:
    with pytest.raises(KeptnValidationError) as err:
        validate_project_name(name)
    assert err.value.message == message


def test_project_name_at_limit_is_valid() -> None:
    validate_project_name("a" * PROJECT_NAME_MAX_SIZE)


def test_stage_name_errors() -> None:
    with pytest.raises(KeptnValidationError) as err:
        validate_stage_name("Prod")
    assert err.value.message == (
        "Stage Prod contains upper case letter(s) or special character(s).\n"
        + ENTITY_CONVENTIONS
        + "Please update stage name in your shipyard and try again."
    )
    with pytest.raises(KeptnValidationError) as err:
        validate_stage_name("")
    assert err.value.message == "stage name missing"
    validate_stage_name("production")


UNIX_DIR_MESSAGE = (
    "Service name contains special character(s). The service name has to be a valid Unix directory name. "
    "For details see https://www.cyberciti.biz/faq/linuxunix-rules-for-naming-file-and-directory-names/"
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "must provide a service name"),
        ("", "must provide a service name"),
        ("a" * (SERVICE_NAME_MAX_SIZE + 1), "service name exceeds maximum size of 43 characters"),
        ("a/b", UNIX_DIR_MESSAGE),
        (".", UNIX_DIR_MESSAGE),
        ("..", UNIX_DIR_MESSAGE),
        ("a:b", UNIX_DIR_MESSAGE),
        ("a&b", UNIX_DIR_MESSAGE),
        ("a|b", UNIX_DIR_MESSAGE),
        ("a<b", UNIX_DIR_MESSAGE),
        ("a>b", UNIX_DIR_MESSAGE),
    ],
)
def test_service_name_errors(name: str | None, message: str) -> None:
    with pytest.raises(KeptnValidationError) as err:
        validate_service_name(name)
    assert err.value.message == message


@pytest.mark.parametrize("name", ["carts", "carts-db", "a" * SERVICE_NAME_MAX_SIZE, "My_Service", "v1.2"])
def test_service_names_keptn_accepts(name: str) -> None:
    # Keptn 1.4.5 only requires a Unix directory name for services, not an entity name.
    validate_service_name(name)

"""Shipyard `spec.keptn.sh/0.2.x`: models, parsing with precise errors, lookups for the sequence engine.

Keptn (go-utils `pkg/lib/v0_2_0/shipyard.go`, shipyard-controller `internal/common/keptn_helpers.go`)
checks only the apiVersion, that there is at least one stage and that stage names are entity names;
everything else failed later, at run time, or silently. We reject more when the shipyard is uploaded,
because a sequence that can never run is better reported to the user than discovered mid-delivery.
Deliberate differences from Keptn:

* `apiVersion` must carry the `spec.keptn.sh/` prefix (Keptn only trimmed it if present) and `kind` must
  be `Shipyard` (Keptn ignored it). Keptn's version-mismatch message was garbled by a format bug; ours
  is readable.
* stage names must be unique; sequence names must be entity names (hence no dots) and unique within a stage;
  task names must be non-empty without dots; every sequence needs a task (Keptn: "task sequence X does not
  contain any tasks", raised only when the sequence was triggered); `triggeredAfter` must be a valid,
  non-negative Go duration (Keptn logged the error and did not wait); `triggeredOn[].event` must look like
  `<stage>.<sequence>.finished` (Keptn silently never fired otherwise); `properties` must be a mapping.
* unknown keys are ignored and scalars are read as yaml.v3 reads them (see `keptn.yamlload`), as in Keptn.

Messages carry no "provided shipyard file is not valid: " prefix; Keptn's project API adds that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as SequenceABC
from datetime import timedelta
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from keptn.durations import parse_go_duration
from keptn.errors import KeptnValidationError
from keptn.names import is_valid_entity_name, stage_name_error
from keptn.yamlload import load_first_document

SHIPYARD_API_VERSION_PREFIX = "spec.keptn.sh/"
SHIPYARD_KIND = "Shipyard"
MIN_SHIPYARD_VERSION = (0, 2, 0)
EVALUATION = "evaluation"
# Results for which a follow-up sequence without a selector fires. The spec says "pass"; Keptn's code also
# accepts "warning", and we follow the code.
DEFAULT_TRIGGER_RESULTS = frozenset({"pass", "warning"})

# Masterminds/semver's lenient NewVersion: optional "v", 1-3 numeric parts, optional pre-release and build.
_SEMVER_RE = re.compile(
    r"v?(?P<major>0|[1-9][0-9]*)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_EXPECTED_VERSION = f"{SHIPYARD_API_VERSION_PREFIX}<version> with version >= 0.2"


class ShipyardError(KeptnValidationError):
    """A shipyard that cannot be used; `message` says where and what."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        # `tasks:` with nothing after it is null in YAML; Go decodes that to the zero value, and so do we.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class Selector(_Model):
    """`match` maps `result` or `<task>.result` to the required result. A selector without `match` (or with
    `match: null`) behaves as if there were no selector, as in Keptn; `match: {}` never fires."""

    match: dict[str, str] | None = None


class TriggeredOn(_Model):
    event: str = ""
    selector: Selector | None = None

    @property
    def match(self) -> dict[str, str] | None:
        return self.selector.match if self.selector is not None else None


class Task(_Model):
    name: str = ""
    triggered_after: str | None = Field(default=None, alias="triggeredAfter")
    properties: dict[str, Any] | None = None

    @property
    def delay(self) -> timedelta:
        """How long to wait before sending this task's `.triggered` event."""
        return parse_go_duration(self.triggered_after) if self.triggered_after else timedelta(0)


class Sequence(_Model):
    name: str = ""
    triggered_on: list[TriggeredOn] = Field(default_factory=list, alias="triggeredOn")
    tasks: list[Task] = Field(default_factory=list)


class ShipyardStage(_Model):
    name: str = ""
    sequences: list[Sequence] = Field(default_factory=list)

    def find_sequence(self, name: str) -> Sequence | None:
        return next((s for s in self.sequences if s.name == name), None)


class ShipyardMetadata(_Model):
    name: str | None = None


class ShipyardSpec(_Model):
    stages: list[ShipyardStage] = Field(default_factory=list)


class Shipyard(_Model):
    api_version: str = Field(default="", alias="apiVersion")
    kind: str = ""
    metadata: ShipyardMetadata = Field(default_factory=ShipyardMetadata)
    spec: ShipyardSpec = Field(default_factory=ShipyardSpec)

    @model_validator(mode="after")
    def _check_rules(self) -> Shipyard:
        # ShipyardError is not a ValueError, so pydantic lets it through unchanged.
        _check_api_version(self.api_version)
        _check_kind(self.kind)
        _check_stages(self.spec.stages)
        return self

    @property
    def stages(self) -> list[ShipyardStage]:
        return self.spec.stages

    def stage_names(self) -> list[str]:
        return [s.name for s in self.spec.stages]

    def get_stage(self, name: str) -> ShipyardStage | None:
        return next((s for s in self.spec.stages if s.name == name), None)

    def get_sequence(self, stage: str, name: str) -> Sequence | None:
        """The sequence `name` of `stage`; every stage also has a built-in `evaluation` sequence (one task,
        `evaluation`) unless it defines its own (shipyard-controller `GetTaskSequenceInStage`)."""
        found = self.get_stage(stage)
        if found is None:
            return None
        sequence = found.find_sequence(name)
        if sequence is None and name == EVALUATION:
            return builtin_evaluation_sequence()
        return sequence

    def parent_stages(self, stage: str) -> list[str]:
        """Other stages whose sequences' `.finished` events trigger a sequence of `stage`, in order of first
        mention (shipyard-controller `getParentStages`, shown as `parentStages` of an ExpandedStage)."""
        found = self.get_stage(stage)
        if found is None:
            return []
        parents: list[str] = []
        for sequence in found.sequences:
            for trigger in sequence.triggered_on:
                parts = trigger.event.split(".")
                if len(parts) == 3 and parts[0] != stage and parts[0] not in parents:
                    parents.append(parts[0])
        return parents

    def sequences_triggered_by(
        self, stage: str, sequence: str, result: str, last_task_name: str | None
    ) -> list[tuple[str, str]]:
        """(stage, sequence) pairs to trigger after `<stage>.<sequence>` finished with `result`, in shipyard
        order (shipyard-controller `GetTaskSequencesByTrigger`).

        Without a selector a trigger fires on pass or warning; with one it fires when `result` equals
        `match["result"]` or `match["<last_task_name>.result"]`, `last_task_name` being the last task that was
        executed. A sequence with several matching triggers is returned once (Keptn would start it twice).
        """
        event = f"{stage}.{sequence}.finished"
        hits: list[tuple[str, str]] = []
        for candidate_stage in self.spec.stages:
            for candidate in candidate_stage.sequences:
                if any(_fires(t, result, last_task_name) for t in candidate.triggered_on if t.event == event):
                    hits.append((candidate_stage.name, candidate.name))
        return hits


def builtin_evaluation_sequence() -> Sequence:
    """The sequence every stage has unless it defines its own `evaluation` (a fresh copy each time)."""
    return Sequence(name=EVALUATION, tasks=[Task(name=EVALUATION)])


def _fires(trigger: TriggeredOn, result: str, last_task_name: str | None) -> bool:
    return selector_fires(trigger.match, result, last_task_name)


def selector_fires(match: Mapping[str, str] | None, result: str, last_task_name: str | None) -> bool:
    """Whether a `triggeredOn` entry with selector `match` fires for a sequence that ended with `result`
    after running `last_task_name` (BEHAVIOR.md b.4 step 8)."""
    if match is None:
        return result in DEFAULT_TRIGGER_RESULTS
    # Go looks up a missing key as "", so an empty result matches a selector that lacks the key.
    if result == match.get("result", ""):
        return True
    return last_task_name is not None and result == match.get(f"{last_task_name}.result", "")


def parse_shipyard(text: str | bytes) -> Shipyard:
    """Parse and validate a shipyard document. Raises `ShipyardError` with a message naming the offending
    stage / sequence / task."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ShipyardError(f"Could not decode shipyard file: not valid UTF-8 ({exc.reason})") from None
    try:
        raw = load_first_document(text)
    except yaml.YAMLError as exc:
        raise ShipyardError(f"Could not decode shipyard file: {_describe_yaml_error(exc)}") from None
    if raw is None:
        raise ShipyardError("Could not decode shipyard file: the document is empty")
    if not isinstance(raw, dict):
        raise ShipyardError(
            "Could not decode shipyard file: expected a mapping with apiVersion, kind, metadata and spec, "
            f"found {_yaml_kind(raw)}"
        )
    # Version and kind first: for a document of another kind, type errors deeper down would only confuse.
    _check_api_version(raw.get("apiVersion"))
    _check_kind(raw.get("kind"))
    try:
        return Shipyard.model_validate(raw)
    except ValidationError as exc:
        raise ShipyardError(_describe_validation_error(raw, exc)) from None


# ------------------------------------------------------------------------------------------------
# Rules
# ------------------------------------------------------------------------------------------------


def _check_api_version(api_version: object) -> None:
    if api_version is None or api_version == "":
        raise ShipyardError(f"apiVersion is missing. Expected {_EXPECTED_VERSION}")
    if not isinstance(api_version, str):
        raise ShipyardError(f"apiVersion must be a string such as {SHIPYARD_API_VERSION_PREFIX}0.2.4")
    if not api_version.startswith(SHIPYARD_API_VERSION_PREFIX):
        raise ShipyardError(f"Invalid shipyard APIVersion {api_version}. Expected {_EXPECTED_VERSION}")
    m = _SEMVER_RE.fullmatch(api_version[len(SHIPYARD_API_VERSION_PREFIX) :])
    if m is None:
        raise ShipyardError(
            f"could not parse shipyard version of APIVersion {api_version}. Expected {_EXPECTED_VERSION}"
        )
    version = (int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0))
    # Masterminds' ">= 0.2" excludes pre-releases (e.g. 0.3.0-rc1): the constraint names none.
    if version < MIN_SHIPYARD_VERSION or m["pre"] is not None:
        raise ShipyardError(f"Invalid shipyard APIVersion {api_version}. Expected {_EXPECTED_VERSION}")


def _check_kind(kind: object) -> None:
    if kind is None or kind == "":
        raise ShipyardError(f"kind is missing. Expected {SHIPYARD_KIND}")
    if kind != SHIPYARD_KIND:
        raise ShipyardError(f"Invalid shipyard kind {kind}. Expected {SHIPYARD_KIND}")


def _check_stages(stages: SequenceABC[ShipyardStage]) -> None:
    if not stages:
        raise ShipyardError(
            "Shipyard must contain at least one stage.\nPlease update the Shipyard file and try again."
        )
    seen: set[str] = set()
    for stage in stages:
        if not stage.name:
            raise ShipyardError("all stages within the shipyard must have a name")
        if not is_valid_entity_name(stage.name):
            raise ShipyardError(stage_name_error(stage.name))
        if stage.name in seen:
            raise ShipyardError(f"stage '{stage.name}' is defined more than once")
        seen.add(stage.name)
    for stage in stages:
        _check_sequences(stage)


def _check_sequences(stage: ShipyardStage) -> None:
    where_stage = f"stage '{stage.name}'"
    seen: set[str] = set()
    for index, sequence in enumerate(stage.sequences, start=1):
        if not sequence.name:
            raise ShipyardError(f"{where_stage}, sequence #{index}: the sequence has no name")
        if not is_valid_entity_name(sequence.name):
            raise ShipyardError(
                f"{where_stage}: sequence name '{sequence.name}' is invalid; start with a lower case letter, "
                "then lower case letters, numbers, and hyphens are allowed"
            )
        if sequence.name in seen:
            raise ShipyardError(f"{where_stage}: sequence '{sequence.name}' is defined more than once")
        seen.add(sequence.name)
        where = f"{where_stage}, sequence '{sequence.name}'"
        if not sequence.tasks:
            raise ShipyardError(f"{where_stage}: task sequence {sequence.name} does not contain any tasks")
        _check_tasks(where, sequence.tasks)
        _check_triggers(where, sequence.triggered_on)


def _check_tasks(where: str, tasks: Iterable[Task]) -> None:
    for index, task in enumerate(tasks, start=1):
        if not task.name:
            raise ShipyardError(f"{where}, task #{index}: the task has no name")
        if "." in task.name:
            raise ShipyardError(
                f"{where}: task name '{task.name}' must not contain dots (event types are split on dots)"
            )
        if task.triggered_after is not None:
            try:
                delay = parse_go_duration(task.triggered_after)
            except ValueError as exc:
                raise ShipyardError(
                    f"{where}, task '{task.name}': invalid triggeredAfter '{task.triggered_after}': {exc}"
                ) from None
            if delay < timedelta(0):
                raise ShipyardError(
                    f"{where}, task '{task.name}': "
                    f"triggeredAfter '{task.triggered_after}' must not be negative"
                )


def _check_triggers(where: str, triggers: Iterable[TriggeredOn]) -> None:
    for index, trigger in enumerate(triggers, start=1):
        parts = trigger.event.split(".")
        if len(parts) != 3 or parts[2] != "finished" or not parts[0] or not parts[1]:
            raise ShipyardError(
                f"{where}, triggeredOn #{index}: event '{trigger.event}' is invalid; "
                "expected <stage>.<sequence>.finished"
            )


# ------------------------------------------------------------------------------------------------
# Error messages
# ------------------------------------------------------------------------------------------------

_LIST_LABELS = {"stages": "stage", "sequences": "sequence", "tasks": "task", "triggeredOn": "triggeredOn"}
_PROBLEMS = {
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        text = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
        if exc.context:
            text += f" ({exc.context}"
            if exc.context_mark is not None:
                text += f" at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
            text += ")"
        return text
    return str(exc)


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__} value"


def _describe_validation_error(raw: dict[str, Any], exc: ValidationError) -> str:
    """Turn pydantic's first error into "stage 'dev', sequence 'delivery', task #2: name must be a string"."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    problem = _PROBLEMS.get(error["type"], error["msg"])
    if "[key]" in loc:
        # pydantic reports a bad mapping key as (..., <mapping>, <key>, "[key]").
        loc = loc[: loc.index("[key]") - 1]
        problem = "keys must be strings"
    path: list[str] = []
    node: Any = raw
    field = "shipyard"
    i = 0
    while i < len(loc):
        key = loc[i]
        if isinstance(key, str) and key in _LIST_LABELS and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            index = loc[i + 1]
            items = node.get(key) if isinstance(node, dict) else None
            item = items[index] if isinstance(items, list) and index < len(items) else None
            name = item.get("name") if isinstance(item, dict) else None
            label = _LIST_LABELS[key]
            step = f"{label} '{name}'" if isinstance(name, str) and name else f"{label} #{index + 1}"
            if i + 2 == len(loc):
                field = step
                break
            path.append(step)
            node = item
            i += 2
            continue
        if i == len(loc) - 1:
            field = str(key)
            break
        if key != "spec":
            path.append(str(key))
        node = node.get(key) if isinstance(node, dict) else None
        i += 1
    where = ", ".join(path) if path else "shipyard"
    return f"{where}: {field} {problem}"

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from keptn.errors import KeptnValidationError
from keptn.shipyard import Sequence, Shipyard, ShipyardError, Task, parse_shipyard

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "keptn" / "examples" / "shipyard"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))

HEADER = "apiVersion: spec.keptn.sh/0.2.3\nkind: Shipyard\nmetadata:\n  name: test\n"

ONBOARDING = (EXAMPLES / "onboarding-carts.shipyard.yaml").read_text() if EXAMPLES.exists() else ""


def shipyard(spec_yaml: str) -> str:
    return HEADER + spec_yaml


def test_examples_are_present() -> None:
    assert len(EXAMPLE_FILES) >= 11, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_example_parses(path: Path) -> None:
    parsed = parse_shipyard(path.read_text())
    assert parsed.kind == "Shipyard"
    assert parsed.stage_names()
    for stage in parsed.stages:
        assert parsed.get_sequence(stage.name, "evaluation") is not None
        for sequence in stage.sequences:
            assert parsed.get_sequence(stage.name, sequence.name) == sequence
            assert sequence.tasks


def test_onboarding_example_structure() -> None:
    parsed = parse_shipyard(ONBOARDING)
    assert parsed.api_version == "spec.keptn.sh/0.2.2"
    assert parsed.metadata.name == "shipyard-sockshop"
    assert parsed.stage_names() == ["dev", "staging", "production"]
    delivery = parsed.get_sequence("dev", "delivery")
    assert delivery is not None
    assert [t.name for t in delivery.tasks] == ["deployment", "test", "evaluation", "release"]
    assert delivery.tasks[0].properties == {"deploymentstrategy": "direct"}
    remediation = parsed.get_sequence("production", "remediation")
    assert remediation is not None
    evaluation = remediation.tasks[2]
    assert evaluation.triggered_after == "15m"
    assert evaluation.delay == timedelta(minutes=15)
    assert remediation.tasks[0].delay == timedelta(0)
    trigger = remediation.triggered_on[0]
    assert trigger.event == "production.remediation.finished"
    assert trigger.match == {"evaluation.result": "fail"}


def test_stage_without_sequences() -> None:
    parsed = parse_shipyard((EXAMPLES / "bridge-fixture.shipyard.yaml").read_text())
    stage = parsed.get_stage("quality-gate-test")
    assert stage is not None and stage.sequences == []


def test_metadata_is_optional() -> None:
    parsed = parse_shipyard(
        "apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\nspec:\n  stages:\n    - name: dev\n"
    )
    assert parsed.metadata.name is None


@pytest.mark.parametrize("version", ["0.2.0", "0.2.4", "0.2", "0.3.0", "1.0.0", "v0.2.1", "0.2.0+build.1"])
def test_accepted_api_versions(version: str) -> None:
    parse_shipyard(
        f"apiVersion: spec.keptn.sh/{version}\nkind: Shipyard\nspec:\n  stages:\n    - name: dev\n"
    )


# --- get_sequence / parent_stages / sequences_triggered_by ----------------------------------------


def test_builtin_evaluation_sequence() -> None:
    parsed = parse_shipyard(ONBOARDING)
    builtin = parsed.get_sequence("staging", "evaluation")
    assert builtin == Sequence(name="evaluation", tasks=[Task(name="evaluation")])
    assert parsed.get_sequence("staging", "nope") is None
    assert parsed.get_sequence("nope", "evaluation") is None


def test_stage_defined_evaluation_wins_over_builtin() -> None:
    parsed = parse_shipyard(
        shipyard(
            "spec:\n  stages:\n    - name: dev\n      sequences:\n        - name: evaluation\n"
            "          tasks:\n            - name: get-sli\n            - name: evaluation\n"
        )
    )
    sequence = parsed.get_sequence("dev", "evaluation")
    assert sequence is not None and [t.name for t in sequence.tasks] == ["get-sli", "evaluation"]


def test_parent_stages() -> None:
    parsed = parse_shipyard(ONBOARDING)
    assert parsed.parent_stages("dev") == []
    assert parsed.parent_stages("staging") == ["dev"]  # staging.delivery.finished (rollback) is not a parent
    assert parsed.parent_stages("production") == ["staging"]
    assert parsed.parent_stages("unknown") == []


@pytest.mark.parametrize(
    ("stage", "sequence", "result", "last_task", "expected"),
    [
        ("dev", "delivery", "pass", "release", [("staging", "delivery")]),
        ("dev", "delivery", "warning", "release", [("staging", "delivery")]),
        ("dev", "delivery", "fail", "evaluation", []),
        ("dev", "delivery-direct", "pass", "release", [("staging", "delivery-direct")]),
        ("staging", "delivery", "pass", "release", [("production", "delivery")]),
        ("staging", "delivery", "fail", "evaluation", [("staging", "rollback")]),
        ("production", "delivery", "fail", "release", [("production", "rollback")]),
        # `evaluation.result: fail` only fires if evaluation was the task that ended the sequence.
        ("production", "remediation", "fail", "evaluation", [("production", "remediation")]),
        ("production", "remediation", "fail", "action", []),
        ("production", "remediation", "pass", "evaluation", []),
        ("production", "rollback", "pass", "rollback", []),
        ("nope", "delivery", "pass", None, []),
    ],
)
def test_sequences_triggered_by(
    stage: str, sequence: str, result: str, last_task: str | None, expected: list[tuple[str, str]]
) -> None:
    assert parse_shipyard(ONBOARDING).sequences_triggered_by(stage, sequence, result, last_task) == expected


def test_triggered_by_selector_edge_cases() -> None:
    parsed = parse_shipyard(
        shipyard(
            "spec:\n  stages:\n    - name: a\n      sequences:\n"
            "        - name: s\n          tasks: [{name: t}]\n"
            "    - name: b\n      sequences:\n"
            "        - name: no-match-key\n          triggeredOn:\n            - event: a.s.finished\n"
            "              selector: {}\n          tasks: [{name: t}]\n"
            "        - name: empty-match\n          triggeredOn:\n            - event: a.s.finished\n"
            "              selector: {match: {}}\n          tasks: [{name: t}]\n"
            "        - name: twice\n          triggeredOn:\n            - event: a.s.finished\n"
            "            - event: a.s.finished\n          tasks: [{name: t}]\n"
        )
    )
    # A selector without `match` acts like no selector; `match: {}` never fires on a real result;
    # a sequence with two matching triggers is started once.
    assert parsed.sequences_triggered_by("a", "s", "pass", "t") == [("b", "no-match-key"), ("b", "twice")]
    assert parsed.sequences_triggered_by("a", "s", "fail", "t") == []


# --- invalid shipyards ----------------------------------------------------------------------------

STAGE_CONVENTIONS = (
    "Keptn relies on the following conventions: "
    "start with a lower case letter, then lower case letters, numbers, and hyphens are allowed.\n"
    "Please update stage name in your shipyard and try again."
)
ONE_TASK = "          tasks:\n            - name: t\n"


def seq(name: str, body: str = ONE_TASK) -> str:
    return f"        - name: {name}\n{body}"


def stage(name: str, *sequences: str) -> str:
    text = f"    - name: {name}\n"
    if sequences:
        text += "      sequences:\n" + "".join(sequences)
    return text


def spec(*stages: str) -> str:
    return shipyard("spec:\n  stages:\n" + "".join(stages))


INVALID = [
    pytest.param("", "Could not decode shipyard file: the document is empty", id="empty"),
    pytest.param("# nothing\n", "Could not decode shipyard file: the document is empty", id="only a comment"),
    pytest.param(
        "- a\n- b\n",
        "Could not decode shipyard file: "
        "expected a mapping with apiVersion, kind, metadata and spec, found a list",
        id="top-level list",
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\nspec:\n  stages:\n  - name: dev\n   - name: x\n",
        "Could not decode shipyard file: line 6, column 4: expected <block end>, but found "
        "'<block sequence start>' (while parsing a block mapping at line 4, column 3)",
        id="yaml syntax error",
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\nkind: Shipyard\n",
        'Could not decode shipyard file: line 3, column 1: mapping key "kind" already defined at line 2',
        id="duplicate key",
    ),
    pytest.param(
        "kind: Shipyard\nspec: {}\n",
        "apiVersion is missing. Expected spec.keptn.sh/<version> with version >= 0.2",
        id="apiVersion missing",
    ),
    pytest.param(
        "apiVersion: 0.2\nkind: Shipyard\n",
        "apiVersion must be a string such as spec.keptn.sh/0.2.4",
        id="apiVersion not a string",
    ),
    pytest.param(
        "apiVersion: 0.2.0\nkind: Shipyard\n",
        "Invalid shipyard APIVersion 0.2.0. Expected spec.keptn.sh/<version> with version >= 0.2",
        id="apiVersion without prefix",
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.1.7\nkind: Shipyard\n",
        "Invalid shipyard APIVersion spec.keptn.sh/0.1.7. "
        "Expected spec.keptn.sh/<version> with version >= 0.2",
        id="apiVersion too old",
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.3.0-rc1\nkind: Shipyard\n",
        "Invalid shipyard APIVersion spec.keptn.sh/0.3.0-rc1. "
        "Expected spec.keptn.sh/<version> with version >= 0.2",
        id="apiVersion pre-release",
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/latest\nkind: Shipyard\n",
        "could not parse shipyard version of APIVersion spec.keptn.sh/latest. "
        "Expected spec.keptn.sh/<version> with version >= 0.2",
        id="apiVersion not semver",
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.2.0\n", "kind is missing. Expected Shipyard", id="kind missing"
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.2.0\nkind: Uniform\n",
        "Invalid shipyard kind Uniform. Expected Shipyard",
        id="wrong kind",
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\n",
        "Shipyard must contain at least one stage.\nPlease update the Shipyard file and try again.",
        id="no spec",
    ),
    pytest.param(
        shipyard("spec:\n  stages: []\n"),
        "Shipyard must contain at least one stage.\nPlease update the Shipyard file and try again.",
        id="no stages",
    ),
    pytest.param(shipyard("spec: []\n"), "shipyard: spec must be a mapping", id="spec a list"),
    pytest.param(shipyard("spec:\n  stages: dev\n"), "shipyard: stages must be a list", id="stages a string"),
    pytest.param(
        shipyard("spec:\n  stages:\n    - dev\n"), "shipyard: stage #1 must be a mapping", id="stage a string"
    ),
    pytest.param(
        "apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\nmetadata: x\nspec:\n  stages:\n    - name: dev\n",
        "shipyard: metadata must be a mapping",
        id="metadata not a mapping",
    ),
    pytest.param(
        spec("    - sequences: []\n"),
        "all stages within the shipyard must have a name",
        id="stage without name",
    ),
    pytest.param(
        spec(stage("Dev")),
        f"Stage Dev contains upper case letter(s) or special character(s).\n{STAGE_CONVENTIONS}",
        id="stage upper case",
    ),
    pytest.param(
        spec(stage("dev.eu")),
        f"Stage dev.eu contains upper case letter(s) or special character(s).\n{STAGE_CONVENTIONS}",
        id="stage with dot",
    ),
    pytest.param(
        spec(stage("dev"), stage("dev")), "stage 'dev' is defined more than once", id="duplicate stage"
    ),
    pytest.param(spec("    - name: 7\n"), "stage #1: name must be a string", id="stage name a number"),
    pytest.param(
        spec(stage("dev", "        - tasks:\n            - name: t\n")),
        "stage 'dev', sequence #1: the sequence has no name",
        id="sequence without name",
    ),
    pytest.param(
        spec(stage("dev", seq("Delivery"))),
        "stage 'dev': sequence name 'Delivery' is invalid; start with a lower case letter, "
        "then lower case letters, numbers, and hyphens are allowed",
        id="sequence upper case",
    ),
    pytest.param(
        spec(stage("dev", seq("a.b"))),
        "stage 'dev': sequence name 'a.b' is invalid; start with a lower case letter, "
        "then lower case letters, numbers, and hyphens are allowed",
        id="sequence with dot",
    ),
    pytest.param(
        spec(stage("dev", seq("delivery"), seq("delivery"))),
        "stage 'dev': sequence 'delivery' is defined more than once",
        id="duplicate sequence",
    ),
    pytest.param(
        spec(stage("dev", seq("delivery", ""))),
        "stage 'dev': task sequence delivery does not contain any tasks",
        id="sequence without tasks",
    ),
    pytest.param(
        spec(stage("dev", seq("delivery", "          tasks: []\n"))),
        "stage 'dev': task sequence delivery does not contain any tasks",
        id="sequence with empty task list",
    ),
    pytest.param(
        spec(stage("dev", seq("delivery", "          tasks: deployment\n"))),
        "stage 'dev', sequence 'delivery': tasks must be a list",
        id="tasks a string",
    ),
    pytest.param(
        spec(
            stage(
                "dev",
                seq("delivery", "          tasks:\n            - name: a\n            - properties: {}\n"),
            )
        ),
        "stage 'dev', sequence 'delivery', task #2: the task has no name",
        id="task without name",
    ),
    pytest.param(
        spec(stage("dev", seq("delivery", "          tasks:\n            - name: a.b\n"))),
        "stage 'dev', sequence 'delivery': "
        "task name 'a.b' must not contain dots (event types are split on dots)",
        id="task with dot",
    ),
    pytest.param(
        spec(
            stage(
                "dev",
                seq("d", "          tasks:\n            - name: e\n              triggeredAfter: 10x\n"),
            )
        ),
        "stage 'dev', sequence 'd', task 'e': invalid triggeredAfter '10x': "
        'time: unknown unit "x" in duration "10x"',
        id="triggeredAfter unknown unit",
    ),
    pytest.param(
        spec(
            stage(
                "dev",
                seq("d", "          tasks:\n            - name: e\n              triggeredAfter: '10'\n"),
            )
        ),
        "stage 'dev', sequence 'd', task 'e': "
        "invalid triggeredAfter '10': time: missing unit in duration \"10\"",
        id="triggeredAfter without unit",
    ),
    pytest.param(
        spec(
            stage(
                "dev",
                seq("d", "          tasks:\n            - name: e\n              triggeredAfter: -5m\n"),
            )
        ),
        "stage 'dev', sequence 'd', task 'e': triggeredAfter '-5m' must not be negative",
        id="triggeredAfter negative",
    ),
    pytest.param(
        spec(
            stage(
                "dev", seq("d", "          tasks:\n            - name: e\n              triggeredAfter: 10\n")
            )
        ),
        "stage 'dev', sequence 'd', task 'e': triggeredAfter must be a string",
        id="triggeredAfter a number",
    ),
    pytest.param(
        spec(
            stage("dev", seq("d", "          tasks:\n            - name: e\n              properties: [1]\n"))
        ),
        "stage 'dev', sequence 'd', task 'e': properties must be a mapping",
        id="properties a list",
    ),
    pytest.param(
        spec(
            stage(
                "dev", seq("d", "          tasks:\n            - name: e\n              properties: {1: x}\n")
            )
        ),
        "stage 'dev', sequence 'd', task 'e': properties keys must be strings",
        id="properties with a numeric key",
    ),
    pytest.param(
        spec(
            stage("dev", seq("d", "          triggeredOn:\n            - event: dev.delivery\n" + ONE_TASK))
        ),
        "stage 'dev', sequence 'd', triggeredOn #1: event 'dev.delivery' is invalid; "
        "expected <stage>.<sequence>.finished",
        id="trigger without kind",
    ),
    pytest.param(
        spec(
            stage("dev", seq("d", "          triggeredOn:\n            - event: a.b.triggered\n" + ONE_TASK))
        ),
        "stage 'dev', sequence 'd', triggeredOn #1: event 'a.b.triggered' is invalid; "
        "expected <stage>.<sequence>.finished",
        id="trigger on triggered",
    ),
    pytest.param(
        spec(stage("dev", seq("d", "          triggeredOn:\n            - selector: {}\n" + ONE_TASK))),
        "stage 'dev', sequence 'd', triggeredOn #1: "
        "event '' is invalid; expected <stage>.<sequence>.finished",
        id="trigger without event",
    ),
    pytest.param(
        spec(
            stage(
                "dev",
                seq(
                    "d",
                    "          triggeredOn:\n            - event: a.b.finished\n"
                    "              selector:\n                match:\n                  result: [fail]\n"
                    + ONE_TASK,
                ),
            )
        ),
        "stage 'dev', sequence 'd', triggeredOn #1, selector, match: result must be a string",
        id="selector value a list",
    ),
    pytest.param(
        spec(stage("dev", seq("d", "          triggeredOn: dev.x.finished\n" + ONE_TASK))),
        "stage 'dev', sequence 'd': triggeredOn must be a list",
        id="triggeredOn a string",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_shipyards(text: str, message: str) -> None:
    with pytest.raises(ShipyardError) as err:
        parse_shipyard(text)
    assert err.value.message == message
    assert isinstance(err.value, KeptnValidationError)


def test_bytes_input() -> None:
    assert parse_shipyard(ONBOARDING.encode()).stage_names() == ["dev", "staging", "production"]
    with pytest.raises(ShipyardError) as err:
        parse_shipyard(b"\xff\xfe")
    assert err.value.message.startswith("Could not decode shipyard file: not valid UTF-8")


def test_model_validate_applies_the_same_rules() -> None:
    with pytest.raises(ShipyardError) as err:
        Shipyard.model_validate(
            {"apiVersion": "spec.keptn.sh/0.2.0", "kind": "Shipyard", "spec": {"stages": []}}
        )
    assert err.value.message.startswith("Shipyard must contain at least one stage.")


def test_nulls_mean_absent_like_go() -> None:
    parsed = parse_shipyard(spec(stage("dev", seq("d", "          triggeredOn:\n" + ONE_TASK))) + "\n")
    sequence = parsed.get_sequence("dev", "d")
    assert sequence is not None and sequence.triggered_on == []


def test_unknown_keys_are_ignored_like_keptn() -> None:
    parsed = parse_shipyard(HEADER + "extra: 1\nspec:\n  stages:\n    - name: dev\n      color: blue\n")
    assert parsed.stage_names() == ["dev"]


def test_scalars_are_read_like_go_yaml_v3() -> None:
    parsed = parse_shipyard(
        spec(
            stage(
                "dev",
                seq(
                    "d",
                    "          tasks:\n            - name: approval\n              properties:\n"
                    + "".join(
                        f"                {line}\n"
                        for line in (
                            "pass: automatic",
                            "warning: manual",
                            "a: yes",
                            "b: on",
                            "c: 2021-01-01",
                            "d: 1:30",
                            "e: true",
                            "f: 3",
                            "g: 1.5",
                            "h: null",
                        )
                    ),
                ),
            )
        )
    )
    sequence = parsed.get_sequence("dev", "d")
    assert sequence is not None
    assert sequence.tasks[0].properties == {
        "pass": "automatic",
        "warning": "manual",
        "a": "yes",
        "b": "on",
        "c": "2021-01-01",
        "d": "1:30",
        "e": True,
        "f": 3,
        "g": 1.5,
        "h": None,
    }


def test_only_the_first_yaml_document_is_read() -> None:
    parsed = parse_shipyard(spec(stage("dev")) + "---\nthis: is ignored\n")
    assert parsed.stage_names() == ["dev"]


def test_serialises_with_keptn_field_names() -> None:
    parsed = parse_shipyard(ONBOARDING)
    dumped = parsed.model_dump(by_alias=True, exclude_none=True)
    assert dumped["apiVersion"] == "spec.keptn.sh/0.2.2"
    remediation = dumped["spec"]["stages"][2]["sequences"][3]
    assert remediation["triggeredOn"] == [
        {"event": "production.remediation.finished", "selector": {"match": {"evaluation.result": "fail"}}}
    ]
    assert remediation["tasks"][2]["triggeredAfter"] == "15m"
    assert Shipyard.model_validate(dumped) == parsed

"""Workflows: Keptn sequences as durable Temporal workflows. The worker registers ALL_WORKFLOWS.

Modules here must be side-effect free at import: the workflow sandbox re-imports them.
"""

from workflows.health import ControlPlanePingWorkflow
from workflows.lane import LaneWorkflow
from workflows.sequence import SequenceWorkflow

ALL_WORKFLOWS: list[type] = [ControlPlanePingWorkflow, SequenceWorkflow, LaneWorkflow]

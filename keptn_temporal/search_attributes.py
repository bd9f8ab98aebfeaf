"""The custom search attributes every sequence workflow is indexed by (all Keyword).

One list, used by the embedded dev server flags, by `keptn-temporal migrate` against an external
Temporal, by the test server fixtures and by workflows that upsert them.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

KEPTN_PROJECT = SearchAttributeKey.for_keyword("KeptnProject")
KEPTN_STAGE = SearchAttributeKey.for_keyword("KeptnStage")
KEPTN_SERVICE = SearchAttributeKey.for_keyword("KeptnService")
KEPTN_CONTEXT = SearchAttributeKey.for_keyword("KeptnContext")
KEPTN_SEQUENCE = SearchAttributeKey.for_keyword("KeptnSequence")
KEPTN_STATE = SearchAttributeKey.for_keyword("KeptnState")

KEPTN_SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    KEPTN_PROJECT,
    KEPTN_STAGE,
    KEPTN_SERVICE,
    KEPTN_CONTEXT,
    KEPTN_SEQUENCE,
    KEPTN_STATE,
)

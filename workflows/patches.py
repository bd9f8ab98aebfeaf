"""Which `workflow.patched()` changes this release activates.

Sequences and lanes are AUTO_UPGRADE (docs/upgrades.md): every release replays the histories of the one
before, and — so that a downgrade is safe — the one before must replay ours. A patch marker in a history
breaks the second rule: code without that `patched()` call cannot replay it. So a patch ships *dormant*
(its id is absent here: `patched()` returns False on new runs and writes no marker, and the old branch runs)
and is activated one release later, by adding its id here, when every release it could be downgraded to
already knows it. Old histories keep replaying either way: a history without the marker takes the old branch.
"""

from __future__ import annotations

from temporalio.worker import PatchActivationInput

# Patch ids that new workflow runs take. Add an id one release after its `patched()` call shipped.
ACTIVE_PATCHES: frozenset[str] = frozenset()


def activate_patch(request: PatchActivationInput) -> bool:
    return request.patch_id in ACTIVE_PATCHES

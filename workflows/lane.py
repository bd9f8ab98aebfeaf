"""A lane: the FIFO queue of sequences for one project/stage/service, granting one at a time.

Keptn ran a dispatcher loop over a database every 10 s; here the lane is a small workflow that sequences
signal. A sequence is queued with `acquire` when the router starts it, in the order of the KEPTN stream —
that is the FIFO order, as Keptn's was by trigger time — and asks again with `acquire` from the workflow
(through an activity; signal-with-start creates the lane when needed, and a repeated `acquire` from the holder
is answered with another grant). The lane answers `lane_granted` to the head of the queue, and the holder gives the lane back with
`release` — when it finishes, or while it waits for an approval (Keptn's waitingForApproval does not block).
`release` from a queued sequence withdraws it (abort or pause of a waiting sequence).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.messages import LaneRequest, LaneState

IDLE_TIMEOUT = timedelta(minutes=1)
# A holder that ended without releasing (terminated by an operator) must not block the lane forever.
HOLDER_CHECK_INTERVAL = timedelta(minutes=5)
GRANTS_BEFORE_CONTINUE_AS_NEW = 200


@workflow.defn(name="Lane")
class LaneWorkflow:
    # The state is taken in __init__, not in run(): with signal-with-start the `acquire` signal is handled
    # before run() starts, and must land in the state run() then works on.
    @workflow.init
    def __init__(self, state: LaneState) -> None:
        self.s = state
        self.regrant = False

    @workflow.run
    async def run(self, state: LaneState) -> None:
        grants_this_run = 0
        while True:
            if self.regrant:
                self.regrant = False
                if self.s.holder is not None:
                    await self._send(self.s.holder, "lane_granted")
                continue
            if self.s.holder is None and self.s.queue:
                await self._grant(self.s.queue.pop(0))
                grants_this_run += 1
                continue
            if self.s.holder is None and not self.s.queue:
                try:
                    await workflow.wait_condition(lambda: bool(self.s.queue), timeout=IDLE_TIMEOUT)
                except TimeoutError:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if not self.s.queue and self.s.holder is None:
                        return  # idle: the next acquire starts the lane again
                continue
            if (
                grants_this_run >= GRANTS_BEFORE_CONTINUE_AS_NEW
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.s)
            holder = self.s.holder
            try:
                await workflow.wait_condition(
                    lambda holder=holder: self.s.holder != holder or self.regrant,
                    timeout=HOLDER_CHECK_INTERVAL,
                )
            except TimeoutError:
                if holder is not None and not await self._alive(holder):
                    workflow.logger.warning("lane holder %s is gone; releasing", holder)
                    self.s.holder = None

    async def _grant(self, workflow_id: str) -> None:
        # The holder is set before the grant is sent: an `acquire` or `release` from the sequence arriving
        # while the signal is on its way must see it as the holder — not queue it a second time (it would be
        # granted the lane again later, e.g. while it waits for an approval).
        self.s.holder = workflow_id
        if await self._send(workflow_id, "lane_granted"):
            self.s.granted += 1
        elif self.s.holder == workflow_id:
            self.s.holder = None

    async def _alive(self, workflow_id: str) -> bool:
        return await self._send(workflow_id, "lane_check")

    async def _send(self, workflow_id: str, signal: str) -> bool:
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal(signal)
        except asyncio.CancelledError:
            raise
        except Exception:  # the sequence is closed (or was never started)
            return False
        return True

    @workflow.signal
    def acquire(self, req: LaneRequest) -> None:
        # Idempotent: the activity that sends this may be retried. The router queues a sequence when it is
        # triggered, so the grant can reach the sequence before it asks; the holder asking is answered again.
        if req.workflow_id == self.s.holder:
            self.regrant = True
        elif req.workflow_id not in self.s.queue:
            self.s.queue.append(req.workflow_id)

    @workflow.signal
    def release(self, req: LaneRequest) -> None:
        if self.s.holder == req.workflow_id:
            self.s.holder = None
        elif req.workflow_id in self.s.queue:
            self.s.queue.remove(req.workflow_id)

    @workflow.query
    def status(self) -> LaneState:
        return self.s

"""Which delivery of a chunk's queue message runs the chunk.

SQS standard queues deliver at least once: a copy of a chunk's message may reach a second
worker while the first still runs the chunk. The copy's task token is still awaited, so the
state machine cannot tell the two apart; the chunk lease on the task's item does. The delivery
that holds it runs the chunk and renews it at every heartbeat together with its message's
lease (one renewal, so the two cannot drift apart); any other delivery finds it held.

The chunk lease is the shorter of the two. A worker that dies stops renewing both, and its
chunk lease must lapse before SQS hands its message out again: that redelivery is what resumes
the chunk, and it would otherwise find the chunk still held and be dropped.
"""

import logging
import time
import uuid
from collections.abc import Callable

from browser_tasks.domain.ports import ChunkLeases, RenewableLease
from browser_tasks.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

# How much sooner than the message's lease the chunk lease lapses, when there is room.
CHUNK_LEASE_MARGIN_SECONDS = 15


def chunk_lease_seconds(message_lease_seconds: float, heartbeat_seconds: float) -> float:
    """How long the chunk stays leased past each renewal: shorter than the message's lease
    (see the module) yet longer than the time between two heartbeats, or a live worker's lease
    would lapse between them. ``CHUNK_LEASE_MARGIN_SECONDS`` short of the message's lease, or
    halfway between the two where they are closer than that."""
    return max(
        message_lease_seconds - CHUNK_LEASE_MARGIN_SECONDS,
        (heartbeat_seconds + message_lease_seconds) / 2,
    )


class DeliveryLease:
    """One delivery's hold on its chunk: the chunk lease on the task (held by this delivery
    alone, under a random holder id) and the queue message's lease."""

    def __init__(
        self,
        leases: ChunkLeases,
        message: RenewableLease,
        task_id: str,
        seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._leases = leases
        self._message = message
        self._task_id = task_id
        self._seconds = seconds
        self._clock = clock
        self.holder = uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the chunk; False if another delivery holds it and is alive (renewing)."""
        now = self._clock()
        return self._leases.acquire_chunk_lease(
            self._task_id, self.holder, now + self._seconds, now
        )

    def renew(self) -> None:
        """The heartbeat's renewal of both leases; the chunk's is renewed even if the message's
        could not be (a message that comes back must find the chunk still held)."""
        try:
            self._message.renew()
        finally:
            if not self._leases.renew_chunk_lease(
                self._task_id, self.holder, self._clock() + self._seconds
            ):
                # Only after this worker stalled past the lease: another delivery took it.
                logger.warning("The chunk lease lapsed and another delivery holds it now")

    def release(self) -> None:
        """Free the chunk for a later delivery. A release that fails is only logged: the lease
        lapses by itself."""
        try:
            self._leases.release_chunk_lease(self._task_id, self.holder)
        except ServiceUnavailable as error:
            logger.warning("The chunk lease was not released: %s", error)

"""How long a chunk stays leased past each heartbeat: a live worker must keep it between two
heartbeats, and a dead worker's must lapse before SQS hands its message out again."""

import pytest

from browser_tasks.domain.chunk_leases import chunk_lease_seconds


@pytest.mark.parametrize(
    ("message_lease", "heartbeat", "expected"),
    [
        (150, 60, 135),  # the worker's defaults: 15 s short of the message lease
        (10, 2, 6),  # browser-tasks local's: halfway, 15 s would leave nothing
        (10, 5, 7.5),
    ],
)
def test_the_chunk_lease_is_the_message_lease_less_15_s_or_halfway_to_the_heartbeat(
    message_lease: int, heartbeat: int, expected: float
) -> None:
    assert chunk_lease_seconds(message_lease, heartbeat) == expected


def test_any_settings_the_worker_takes_put_it_between_heartbeat_and_message_lease() -> None:
    from worker_settings import WorkerSettings

    for message_lease in range(10, 901, 41):
        for heartbeat in range(1, message_lease // 2 + 1, 9):
            settings = WorkerSettings(
                message_lease_seconds=message_lease, heartbeat_seconds=heartbeat
            )
            seconds = chunk_lease_seconds(
                settings.message_lease_seconds, settings.heartbeat_seconds
            )
            # a heartbeat's gap, and then some; never shorter than 5 s
            assert settings.heartbeat_seconds * 1.5 <= seconds, (message_lease, heartbeat)
            assert seconds >= 5
            # lapsed well before the message is back
            assert seconds <= settings.message_lease_seconds - min(15, heartbeat / 2)

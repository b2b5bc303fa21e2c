"""A person who closes the tab while their room is still being sent to them is not an error:
the server logs no traceback, and their connection is recorded as ended."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat.models import Attendance, Message, Participant
from tests.chat.conftest import session_cookie
from tests.chat.test_processes import (
    _wait_for_servers_connections_to_close,
    free_port,
    open_socket,
    start_daphne,
)

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

HISTORY = 20000


def long_history(session, user) -> None:
    author = Participant.objects.create(session=session, user=user, name="Long talker")
    Message.objects.bulk_create(
        Message(session=session, position=n, author=author, body=f"Message number {n} " * 8)
        for n in range(1, HISTORY + 1)
    )


async def test_closing_while_the_history_is_sent_logs_no_error(room):
    session = room["session"]
    await sync_to_async(long_history)(session, room["bob"])
    cookie = await sync_to_async(session_cookie)(room["alice"])
    port = free_port()
    server = await asyncio.to_thread(start_daphne, port)
    try:
        for _ in range(3):
            ws = await open_socket(port, session.pk, cookie)
            await ws.recv()  # the room has started sending
            await ws.close()  # the tab is closed while the history streams in
        await asyncio.sleep(1.5)
        # A person coming back still gets everything.
        ws = await open_socket(port, session.pk, cookie)
        seen = 0
        while True:
            event = await asyncio.wait_for(ws.recv(), timeout=20)
            if '"history.end"' in event:
                break
            seen += '"type": "message"' in event or '"type":"message"' in event
        assert seen == HISTORY
        await ws.close()
        await asyncio.sleep(0.5)
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 10)
        log = server.stderr.read().decode(errors="replace")
        await sync_to_async(_wait_for_servers_connections_to_close)()
    assert "Traceback" not in log, log[-3000:]
    assert "took too long to shut down" not in log, log[-3000:]
    # Every connection of hers is recorded as ended, the aborted ones too.
    open_rows = await sync_to_async(
        Attendance.objects.filter(participant__session=session, left_at__isnull=True).count
    )()
    assert open_rows == 0

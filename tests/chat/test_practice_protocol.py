"""The practice room's stand-in for the socket (static/js/practice_socket.js) speaks the room's
protocol and nothing else: every event it sends, every client event it answers and every error
code it gives is one docs/protocol.md documents. (tests/e2e/test_practice_room.py checks, in a
browser, that its events carry the documented fields.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chat.protocol import ERROR_CODES, ServerEvent
from tests.chat.test_protocol_doc import backticked, first_cells, section

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = (ROOT / "static" / "js" / "practice_socket.js").read_text()


def sent_types(source: str) -> set[str]:
    """Every event the script builds: ``{ type: "<name>", ... }``."""
    return set(re.findall(r'\btype: "([^"]+)"', source))


def answered_types(source: str) -> set[str]:
    """Every client event the script answers: its ``case "<name>":`` and its CONTROLS."""
    controls = re.search(r"var CONTROLS = \[(.*?)\];", source, re.S)
    assert controls, "practice_socket.js has no CONTROLS list"
    return set(re.findall(r'case "([^"]+)":', source)) | set(
        re.findall(r'"([^"]+)"', controls.group(1))
    )


def refusal_codes(source: str) -> set[str]:
    """Every error code the script gives: ``refuse(socket, "<code>", ...)``."""
    return set(re.findall(r'refuse\(\s*socket,\s*"([^"]+)"', source))


def documented_examples() -> dict[str, dict]:
    """The first JSON example of each event type in "Server → client", by type (a block holds
    one event, or one per line)."""
    found: dict[str, dict] = {}
    for block in re.findall(r"```json\n(.*?)```", section("Server → client"), re.S):
        try:
            events = [json.loads(block)]
        except ValueError:
            events = [json.loads(line) for line in block.splitlines() if line.strip()]
        for event in events:
            found.setdefault(event["type"], event)
    return found


def test_the_stand_in_sends_only_documented_events():
    sent = sent_types(STAND_IN)
    assert {"room.state", "message", "history.end", "message.ack", "error"} <= sent
    assert sent <= {event.value for event in ServerEvent}


def test_the_stand_in_answers_only_documented_client_events_and_every_control():
    documented = backticked(first_cells(section("Client → server")))
    answered = answered_types(STAND_IN)
    assert answered <= documented
    # A member's every event gets its answer: the controls a refusal, the rest their effect.
    assert answered == documented


def test_the_stand_in_refuses_only_with_documented_codes():
    codes = refusal_codes(STAND_IN)
    assert {"invalid_client_id", "invalid_body", "too_long", "not_your_turn"} <= codes
    assert codes <= ERROR_CODES


def test_the_checks_find_what_they_look_for():
    """The parsing itself: an undocumented event, client event or code is seen."""
    made_up = 'refuse(socket, "made_up", "x"); { type: "practice.tip" }; case "practice.ask":'
    source = STAND_IN + made_up
    assert "practice.tip" in sent_types(source)
    assert "made_up" in refusal_codes(source)
    assert "practice.ask" in answered_types(source)

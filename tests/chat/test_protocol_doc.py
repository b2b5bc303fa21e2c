"""docs/protocol.md and the code say the same: every event type, error code and close code.

The doc is read as its tables (the first cell of each row); the code from chat.protocol's
constants, and from the literals the chat app builds events and refusals with.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from chat import protocol
from chat.consumers import CONTROLS, OWN_ACTIONS, RoomConsumer
from chat.protocol import ERROR_CODES, ServerEvent

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()
# Every module of the app, in its packages too (chat.services), but not its migrations.
CHAT_MODULES = sorted(
    path for path in (ROOT / "chat").rglob("*.py") if "migrations" not in path.parts
)

# Channel-layer events that never reach a client as such: the consumer acts on them.
INTERNAL_EVENTS = {
    "person.revoked",  # becomes room.revoked, then the close
    "person.recheck",  # the socket re-checks its right to be here; may become room.revoked
}


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/protocol.md has no section {title!r}"
    return match.group(1)


def first_cells(text: str) -> list[str]:
    """The first cell of every table row (a header's holds no backticks and no number)."""
    return [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("|")]


def backticked(cells: list[str]) -> set[str]:
    return {name for cell in cells for name in re.findall(r"`([^`]+)`", cell)}


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def event_type_literals() -> set[str]:
    """Every ``{"type": "<literal>", ...}`` the chat app builds."""
    found = set()
    for path in CHAT_MODULES:
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "type"
                        and isinstance(value, ast.Constant)
                    ):
                        found.add(value.value)
    return found


def error_code_literals() -> set[str]:
    """Every refusal code the chat app raises: ``ServiceError(..., code=...)`` (``invalid``
    when left out) and ``RoomRefusal("<code>", ...)``."""
    found = set()
    for path in CHAT_MODULES:
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id == "ServiceError":
                codes = [k.value for k in node.keywords if k.arg == "code"]
                if not codes:
                    found.add("invalid")
                elif isinstance(codes[0], ast.Constant):  # else passed on from a RoomRefusal
                    found.add(codes[0].value)
            elif node.func.id == "RoomRefusal" and isinstance(node.args[0], ast.Constant):
                found.add(node.args[0].value)
    return found


def test_every_server_event_is_documented_and_nothing_else():
    documented = backticked(first_cells(section("Server → client")))
    assert documented == {event.value for event in ServerEvent}


def test_the_chat_app_builds_no_event_the_protocol_does_not_name():
    assert event_type_literals() - INTERNAL_EVENTS <= {event.value for event in ServerEvent}


def test_every_server_event_is_built_by_the_consumer_or_forwarded_by_a_handler():
    source = (ROOT / "chat" / "consumers.py").read_text()
    for event in ServerEvent:
        built_here = f"ServerEvent.{event.name}" in source.split("class RoomConsumer", 1)[1]
        handled = callable(getattr(RoomConsumer, event.value.replace(".", "_"), None))
        check_notice = event is ServerEvent.CRISIS_SUPPORT  # returned by a message check
        assert built_here or handled or check_notice, f"nothing sends {event.value}"


def test_every_error_code_is_documented_and_nothing_else():
    documented = backticked(first_cells(section("Error codes")))
    assert documented == ERROR_CODES


def test_the_chat_app_raises_no_refusal_code_the_protocol_does_not_name():
    assert error_code_literals() <= ERROR_CODES


def test_every_login_policy_refusal_is_documented_as_a_revoked_reason():
    # The login policy's verdicts reach a socket only as the reason of ``room.revoked``.
    from accounts import policy

    codes = {
        value.code for value in vars(policy).values() if isinstance(value, policy.LoginRefusal)
    }
    assert codes == {"logged_out", "inactive", "expired", "suspended", "mfa_required"}
    reasons = DOC[DOC.index("`room.revoked` reasons:") :].split("\n\n")[0]
    assert all(f"`{code}`" in reasons for code in codes)


def test_every_close_code_is_documented():
    documented = {int(cell) for cell in first_cells(section("Close codes")) if cell.isdigit()}
    close_codes = {
        value
        for name, value in vars(protocol).items()
        if name.startswith("CLOSE_") and isinstance(value, int)
    }
    assert documented == close_codes == {4000, 4001, 4003}


def test_every_client_event_the_consumer_accepts_is_documented():
    consumer = next(
        node
        for node in ast.walk(parsed(ROOT / "chat" / "consumers.py"))
        if isinstance(node, ast.AsyncFunctionDef) and node.name == "receive_json"
    )
    compared = {
        node.comparators[0].value
        for node in ast.walk(consumer)
        if isinstance(node, ast.Compare) and isinstance(node.comparators[0], ast.Constant)
    }
    documented = backticked(first_cells(section("Client → server")))
    assert documented == compared | set(CONTROLS) | set(OWN_ACTIONS)


def test_the_close_after_an_error_on_sending_is_documented_as_the_consumer_does_it():
    text = " ".join(section("Error codes").split())
    assert "with `removed` it sends `you.removed` and closes with 4003" in text
    assert "`removed`, `not_allowed` or `suspended` it closes with 4001" not in text


def documented_example(kind: str) -> dict:
    """The JSON example of event ``kind`` in "Server → client"."""
    for block in re.findall(r"```json\n(.*?)```", section("Server → client"), re.S):
        example = json.loads(block) if block.lstrip().startswith("{") else None
        if example and example.get("type") == kind:
            return example
    raise AssertionError(f"no example of {kind}")


def returned_keys(path: Path, function: str) -> set[str]:
    node = next(
        node
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.FunctionDef) and node.name == function
    )
    returned = next(n.value for n in ast.walk(node) if isinstance(n, ast.Return))
    assert isinstance(returned, ast.Dict)
    return {key.value for key in returned.keys if isinstance(key, ast.Constant)}


def test_the_room_state_and_message_examples_show_every_field():
    assert set(documented_example("room.state")) == returned_keys(
        ROOT / "chat" / "consumers.py", "_state"
    )
    assert set(documented_example("message")) == returned_keys(
        ROOT / "chat" / "selectors.py", "message_event"
    )

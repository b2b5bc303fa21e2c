"""Hostile message text in a real browser: shown literally, live (room.js) and after a reload
(the server-rendered history, then linked by room.js), with only safe links added.

The pages load with their Content-Security-Policy bypassed, so that markup which did slip
through would run and set ``window.__xss``: the escaping is what is under test here, not the
policy that backs it up.
"""

from __future__ import annotations

import pytest
from django.db import connections
from playwright.sync_api import expect

from tests.chat.conftest import open_session
from tests.e2e.test_room_journey import logged_in_page, open_room, say
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LONG_HEAD, LONG_TAIL = "a" * 1000, "b" * 950

# Each payload, and the links it must become: (link text, href).
PAYLOADS: list[tuple[str, list[tuple[str, str]]]] = [
    ("<script>window.__xss = 'script'</script>", []),
    ("<img src=x onerror=\"window.__xss = 'img'\">", []),
    ('"><svg onload="window.__xss = \'svg\'">', []),
    ("javascript:window.__xss = 'url'", []),
    ("<a href=\"javascript:window.__xss = 'a'\">click me</a>", []),
    (
        "JaVaScRiPt:window.__xss='mixed' https://example.org",
        [("https://example.org", "https://example.org/")],
    ),
    (
        "https://example.org/ok\"onmouseover=\"window.__xss = 'attr'",
        [("https://example.org/ok", "https://example.org/ok")],
    ),
    ("http://user:secret@example.org/ is not linked", []),
    ("&lt;b&gt;already escaped&lt;/b&gt;", []),
    (
        "See https://example.org/a/b?c=1. Or (https://example.org/paren), fine!",
        [
            ("https://example.org/a/b?c=1", "https://example.org/a/b?c=1"),
            ("https://example.org/paren", "https://example.org/paren"),
        ],
    ),
    (
        f"{LONG_HEAD} https://example.org/long/path; {LONG_TAIL}",
        [("https://example.org/long/path", "https://example.org/long/path")],
    ),
]

# What room.js and the template may put inside a message body: text, line breaks, and links
# (each with its "opens in a new tab" note for screen readers).
ALLOWED_IN_BODY = {"a.msg__link", "span.visually-hidden", "br"}

INSPECT = """() => {
  const list = document.getElementById("messages");
  const visible = (node) => {
    const copy = node.cloneNode(true);
    copy.querySelectorAll(".visually-hidden").forEach((hidden) => hidden.remove());
    return copy.textContent;
  };
  const everything = Array.from(list.querySelectorAll("*"));
  return {
    messages: Array.from(list.querySelectorAll("li[data-position]")).map((item) => {
      const body = item.querySelector(".msg__body");
      return {
        position: Number(item.dataset.position),
        text: visible(body),
        elements: Array.from(body.querySelectorAll("*")).map(
          (node) => node.tagName.toLowerCase() + (node.className ? "." + node.className : "")
        ),
        links: Array.from(body.querySelectorAll("a")).map((link) => ({
          text: visible(link),
          href: link.getAttribute("href"),
          rel: link.rel.split(/\\s+/),
          target: link.target,
        })),
      };
    }),
    foreign: everything
      .map((node) => node.tagName.toLowerCase())
      .filter((tag) => ["script", "img", "svg", "iframe", "object", "embed"].includes(tag)),
    handlers: everything.flatMap((node) =>
      Array.from(node.attributes).map((a) => a.name).filter((name) => name.startsWith("on"))
    ),
    scriptUrls: Array.from(document.querySelectorAll("[href], [src], [action], [formaction]"))
      .flatMap((node) => ["href", "src", "action", "formaction"].map((a) => node.getAttribute(a)))
      .filter((value) => value && /^\\s*javascript:/i.test(value)),
    ran: window.__xss === undefined ? null : String(window.__xss),
  };
}"""


def assert_shown_safely(page, where: str) -> None:
    seen = page.evaluate(INSPECT)
    assert seen["ran"] is None, f"{where}: a payload ran ({seen['ran']})"
    assert seen["foreign"] == [], where
    assert seen["handlers"] == [], where
    assert seen["scriptUrls"] == [], where
    assert [m["position"] for m in seen["messages"]] == list(range(1, len(PAYLOADS) + 1)), where
    for message, (payload, links) in zip(seen["messages"], PAYLOADS, strict=True):
        label = f"{where}, message {message['position']}"
        assert message["text"] == payload, label
        assert set(message["elements"]) <= ALLOWED_IN_BODY, label
        assert [(link["text"], link["href"]) for link in message["links"]] == links, label
        for link in message["links"]:
            assert {"noopener", "noreferrer"} <= set(link["rel"]), label
            assert link["target"] == "_blank", label


def test_hostile_text_is_shown_literally_live_and_in_history_with_only_safe_links(
    live_server_url, browser, therapist
):
    group = make_group(therapist, title="Evening circle")
    alice, bob = make_member(group).user, make_member(group).user
    session = open_session(group)
    writer = logged_in_page(browser, live_server_url, alice, bypass_csp=True)
    reader = logged_in_page(browser, live_server_url, bob, bypass_csp=True)
    connections.close_all()  # the ORM's own, in Playwright's greenlet (see the journey test)
    for page in (writer, reader):
        open_room(page, live_server_url, session.pk)

    for payload, _ in PAYLOADS:
        say(writer, payload)
    expect(reader.locator(f"#m-{len(PAYLOADS)}")).to_have_count(1, timeout=10_000)
    assert_shown_safely(reader, "live")
    assert_shown_safely(writer, "live, own messages")

    reader.reload()
    open_room(reader, live_server_url, session.pk)
    assert_shown_safely(reader, "history")
    for page in (writer, reader):
        assert page.errors == [], page.errors

"""CI's first-run journey: the README's path, walked in Debian's Chromium by two people.

A new person signs up, opens the verification link from the console email in the platform's
log, logs in, accepts the guidelines, joins the group whose room the demo keeps open, enters the
room and writes. The demo facilitator, in a second browser, logs in with the two-step code from
``make totp``, opens the same room, sees the message within a second, answers, mutes the member
and ends the session; the member sees the answer, the mute and the end.

Everything goes through the visible pages (links, labels, button text) from the base URL on,
as a person would, and everything a person would read in the terminal (the demo people and
their password, the verification email) is read from the log of ``make run``. Run by
``.ci/first_run``, which starts and stops the platform; exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 (after the path is set)

# The drop-in groups/demo.py keeps open now, unless seed_demo says it chose another room.
DROP_IN_TITLE = "Drop-in: coping with stress"
BUSY = re.compile(r"so “(?P<title>[^”]+)” is the group whose room is open")
NO_ROOM = "No room is open this time"
DEMO_PASSWORD = re.compile(r"password for all: (?P<password>\S+)\)")
DEMO_FACILITATOR = re.compile(r"\btherapist\s+(?P<email>\S+@\S+)")
# The prefix make run's process runner puts on each line of a process's output: "20:24:16 web.1 | ".
RUNNER_PREFIX = re.compile(r"^\d\d:\d\d:\d\d \S+\s+\| ?", re.MULTILINE)
CONFIRM_LINK = re.compile(r"https?://\S+/accounts/confirm-email/\S+")

CONNECTED = re.compile(r"Connected|up to date")
WAIT_MS = 10_000
ARRIVAL_LIMIT_S = 1.0
MEMBER_SCREEN = {"width": 390, "height": 844}
FACILITATOR_SCREEN = {"width": 1280, "height": 900}


class JourneyFailed(Exception):
    pass


class Journey:
    def __init__(self, base_url: str, log: Path, screens: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self.log = log
        self.screens = screens
        self.started = time.monotonic()
        self.pages: dict[str, Page] = {}
        self.errors: dict[str, list[str]] = {}
        self.shot = 0

    # --- Steps, timing and evidence ---------------------------------------------------------

    @contextmanager
    def step(self, name: str, *, shoot: tuple[str, ...] = ()) -> Iterator[None]:
        began = time.monotonic()
        print(f"[{began - self.started:6.1f} s] {name} ...", flush=True)
        try:
            yield
        except Exception as error:
            self.screenshot_all("failed")
            raise JourneyFailed(f"{name}: {error}\nWhere the pages were: {self.where()}") from error
        for who in shoot:
            self.screenshot(who, name)
        print(f"{'':10} ok in {time.monotonic() - began:.2f} s", flush=True)

    def screenshot(self, who: str, name: str) -> None:
        self.shot += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-").removeprefix(f"{who}-")[:48]
        path = self.screens / f"{self.shot:02d}-{who}-{slug}.png"
        self.pages[who].screenshot(path=str(path), full_page=True)

    def where(self) -> str:
        places = []
        for who, page in self.pages.items():
            try:
                places.append(f"{who} at {page.url} (“{page.title()}”)")
            except Exception as error:  # a page that broke is reported as such
                places.append(f"{who}: {error}")
        return "; ".join(places)

    def screenshot_all(self, name: str) -> None:
        for who in self.pages:
            try:
                self.screenshot(who, name)
            except Exception as error:  # the page may be what broke; the report matters more
                print(f"{'':10} (no screenshot of the {who}'s page: {error})")

    def open_page(self, browser: Browser, who: str, viewport: dict[str, int], **options) -> Page:
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        self.pages[who], self.errors[who] = page, errors
        return page

    # --- What a person reads in the terminal ------------------------------------------------

    def read_log(self) -> str:
        return RUNNER_PREFIX.sub("", self.log.read_text(errors="replace"))

    def from_log(self, pattern: re.Pattern[str], what: str) -> re.Match[str]:
        found = pattern.search(self.read_log())
        if found is None:
            raise JourneyFailed(f"{what} is not in {self.log}")
        return found

    def open_room_title(self) -> str:
        text = self.read_log()
        if NO_ROOM in text:
            raise JourneyFailed(f"seed_demo says: {NO_ROOM!r}; the demo promises an open room")
        busy = BUSY.search(text)
        return busy["title"] if busy else DROP_IN_TITLE

    def confirmation_link(self, email: str, seconds: float = 30) -> str:
        """The link in the verification email to ``email``, as the console backend printed it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.read_log()
            addressed = text.find(f"To: {email}")
            if addressed != -1:
                link = CONFIRM_LINK.search(text, addressed)
                if link is not None:
                    return link.group(0)
            time.sleep(0.2)
        raise JourneyFailed(f"no verification email to {email} in {self.log} after {seconds:.0f} s")

    # --- The journey ------------------------------------------------------------------------

    def run(self, browser: Browser) -> None:
        member = self.open_page(browser, "member", MEMBER_SCREEN, is_mobile=True, has_touch=True)
        run_id = uuid4().hex[:8]
        email = f"first-run-{run_id}@example.org"
        password = f"{secrets.token_urlsafe(12)}-kettle"  # nothing like the email
        title = self.open_room_title()
        print(f"{'':10} member {email}; the open room should be “{title}”")

        with self.step("member opens Hearth and signs up", shoot=("member",)):
            member.goto(self.base_url + "/")
            expect(member).to_have_title(re.compile("Hearth"))
            member.get_by_role("link", name="Join Hearth").first.click()
            member.get_by_label("Email").fill(email)
            name = member.get_by_label("Display name").input_value()
            if not name:
                raise JourneyFailed("the sign-up form suggests no display name")
            member.get_by_label("Password:", exact=True).fill(password)
            member.get_by_label("Password (again):", exact=True).fill(password)
            member.get_by_role("button", name="Join Hearth", exact=True).click()
            expect(member.get_by_role("heading", level=1)).to_contain_text(
                re.compile("verify|check your email", re.I)
            )
            print(f"{'':10} member is shown as “{name}”")

        with self.step("member opens the verification link from the email", shoot=("member",)):
            link = self.confirmation_link(email)
            if not link.startswith(self.base_url + "/"):
                raise JourneyFailed(f"the email links to {link}, not to {self.base_url}")
            member.goto(link)
            member.get_by_role("button", name="Confirm").click()
            expect(member.get_by_role("heading", level=1)).to_contain_text("Log in")

        with self.step("member logs in", shoot=("member",)):
            self.log_in(member, email, password)

        with self.step("member accepts the guidelines", shoot=("member",)):
            member.get_by_role("link", name="Read the guidelines").click()
            member.get_by_label("I have read these guidelines").check()
            member.get_by_role("button", name="I agree").click()
            expect(member.get_by_role("status").first).to_contain_text("Thank you for accepting")

        with self.step(f"member joins “{title}”", shoot=("member",)):
            self.open_menu(member)
            member.get_by_role("navigation", name="Main").get_by_role(
                "link", name="Find a group"
            ).click()
            member.get_by_role("link", name=title, exact=True).click()
            member.get_by_role("button", name="Join this group").click()
            expect(member.get_by_role("main")).to_contain_text("You are a member")

        with self.step("member enters the room", shoot=("member",)):
            member.get_by_role("link", name="My schedule").first.click()
            member.get_by_role("link", name=f"Join the room for {title}").click()
            self.expect_connected(member)

        facilitator = self.open_page(browser, "facilitator", FACILITATOR_SCREEN)
        with self.step("facilitator logs in with the two-step code", shoot=("facilitator",)):
            facilitator_email = self.from_log(DEMO_FACILITATOR, "the demo facilitator")["email"]
            demo_password = self.from_log(DEMO_PASSWORD, "the demo password")["password"]
            facilitator.goto(self.base_url + "/")
            self.log_in(facilitator, facilitator_email, demo_password, two_step=True)

        with self.step("facilitator opens the same room", shoot=("facilitator",)):
            facilitator.get_by_role("link", name="Groups I lead").click()
            facilitator.get_by_role("link", name=title, exact=True).first.click()
            facilitator.get_by_role("link", name="Open the room").first.click()
            self.expect_connected(facilitator)
            expect(facilitator.get_by_role("heading", level=1)).to_have_text(title)

        hello = f"Hello, I am new here ({run_id})"
        with self.step("member sends a message; facilitator sees it within a second"):
            delay = self.say_and_time(member, facilitator, hello)
            print(f"{'':10} the facilitator saw it {delay * 1000:.0f} ms after the member sent it")
            if delay > ARRIVAL_LIMIT_S:
                raise JourneyFailed(f"it took {delay:.2f} s, more than {ARRIVAL_LIMIT_S:.0f} s")
            self.screenshot("member", "sent")
            self.screenshot("facilitator", "received")

        answer = f"Welcome, {name}. Take your time ({run_id})"
        with self.step("facilitator answers; member sees the answer", shoot=("member",)):
            delay = self.say_and_time(facilitator, member, answer)
            print(f"{'':10} the member saw it {delay * 1000:.0f} ms after it was sent")

        with self.step("facilitator mutes the member", shoot=("member", "facilitator")):
            # A person's actions are behind their name in "Who is here".
            facilitator.get_by_role(
                "button", name=re.compile(f"^{re.escape(name)}\\W*options")
            ).click()
            facilitator.get_by_role("button", name=f"Mute {name}", exact=True).click()
            expect(member.get_by_role("alert").filter(has_text="muted you")).to_be_visible()
            expect(member.get_by_role("button", name="Send")).to_be_disabled()

        with self.step("facilitator ends the session", shoot=("member", "facilitator")):
            facilitator.once("dialog", lambda dialog: dialog.accept())
            facilitator.get_by_role("button", name="End the session for everyone").click()
            for page in (member, facilitator):
                expect(page.get_by_role("status").filter(has_text="ended")).to_be_visible()
                expect(page.get_by_role("button", name="Send")).to_be_disabled()

        with self.step("no script errors on either page"):
            broken = {who: errors for who, errors in self.errors.items() if errors}
            if broken:
                raise JourneyFailed(f"uncaught errors in the pages: {broken}")

    # --- What people do ---------------------------------------------------------------------

    @staticmethod
    def open_menu(page: Page) -> None:
        """On a phone the main menu is folded behind its button: open it."""
        toggle = page.get_by_role("button", name="Menu", exact=True)
        if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
            toggle.click()

    def log_in(self, page: Page, email: str, password: str, *, two_step: bool = False) -> None:
        self.open_menu(page)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=False).first.fill(password)
        page.get_by_role("button", name="Log in", exact=True).click()
        if two_step:
            page.get_by_label("Code").fill(two_step_code())
            page.get_by_role("button", name="Log in", exact=True).click()
        self.open_menu(page)
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("button", name="Log out")
        ).to_be_visible()

    def expect_connected(self, page: Page) -> None:
        expect(page.get_by_role("status").filter(has_text=CONNECTED)).to_be_visible()

    def say_and_time(self, sender: Page, reader: Page, text: str) -> float:
        """Send ``text``; return the seconds from the sender's Send to its appearing for the
        reader. Both moments are noted inside the pages, by the same machine's clock."""
        sender.evaluate(
            """() => {
                window.firstRunSent = null;
                document.addEventListener("submit", () => {
                    window.firstRunSent = window.firstRunSent ?? Date.now();
                }, {capture: true});
            }"""
        )
        reader.evaluate(
            """(text) => {
                const list = document.querySelector("[aria-label='Messages']");
                window.firstRunSeen = null;
                const look = () => {
                    if (window.firstRunSeen === null && list.textContent.includes(text)) {
                        window.firstRunSeen = Date.now();
                    }
                };
                new MutationObserver(look).observe(list, {childList: true, subtree: true});
                look();
            }""",
            text,
        )
        sender.get_by_label("Your message").fill(text)
        sender.get_by_role("button", name="Send").click()
        try:
            expect(reader.get_by_role("list", name="Messages")).to_contain_text(text)
        except AssertionError:
            raise JourneyFailed(
                f"{text!r} never reached the other page in {WAIT_MS / 1000:.0f} s; the sender's "
                f"page says: {sender_state(sender)!r}"
            ) from None
        # The sender's box empties when the server acknowledges the message.
        expect(sender.get_by_label("Your message")).to_have_value("")
        sent, seen = (
            sender.evaluate("() => window.firstRunSent"),
            reader.evaluate("() => window.firstRunSeen"),
        )
        if sent is None or seen is None:
            raise JourneyFailed(f"the pages did not note when {text!r} was sent and seen")
        return (seen - sent) / 1000


def sender_state(page: Page) -> str:
    """What the room's send form tells its writer (sending, not sent, an error)."""
    form = page.locator("form").filter(has=page.get_by_label("Your message"))
    return " ".join(form.inner_text().split())


def two_step_code() -> str:
    """The demo's current code, from ``make totp`` as the README says, with time to type it."""
    while 30 - time.time() % 30 < 3:  # allauth's codes last 30 s; do not race the next one
        time.sleep(0.5)
    result = subprocess.run(
        ["make", "--no-print-directory", "totp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    codes = re.findall(r"^\d{6}$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not codes:
        raise JourneyFailed(f"make totp printed no code: {result.stdout}{result.stderr}")
    return codes[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--log", required=True, type=Path, help="the output of make run")
    parser.add_argument("--screens", type=Path, default=ROOT / "var" / "first-run-screens")
    args = parser.parse_args()
    args.screens.mkdir(parents=True, exist_ok=True)
    for old in args.screens.glob("*.png"):
        old.unlink()

    expect.set_options(timeout=WAIT_MS)
    journey = Journey(args.base_url, args.log, args.screens)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            journey.run(browser)
        except JourneyFailed as failure:
            print(f"\nFIRST RUN JOURNEY FAILED: {failure}", file=sys.stderr)
            print(f"Screenshots: {args.screens}", file=sys.stderr)
            return 1
        finally:
            browser.close()
    print(f"\nThe journey passed in {time.monotonic() - journey.started:.1f} s.")
    print(f"Screenshots: {args.screens}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

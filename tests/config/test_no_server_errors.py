"""No address of Hearth answers bad input with a server error (500).

A crawl walks every URL pattern the resolver knows (Hearth's, allauth's and the admin's) as
each persona in turn. It fills each pattern's path arguments with real objects from a small
scene, then one argument at a time with hostile values (a number past any id, a 300-character
slug, unicode, a NUL byte); it sends a GET and an empty POST, and where the persona is let in,
garbage in the query string and in the form (over-long, NUL bytes, unicode, digits that are not
numbers, numbers past any limit, dates at the ends of the calendar). Whatever comes back must
be below 500, and a 500 is reported with its address, persona and cause.

Each request runs in a savepoint that is rolled back, and the persona's cookies are put back
after it, so a POST that does change something (leaving a group, a delete in the admin,
logging out) leaves the scene as it was for the next request. To stay fast, a path taken once
is not taken again: a persona sent to log in goes no further (the view has read nothing), and
an address that answers a persona as it answered another one before (the same statuses, the
same form fields) gets no second round of garbage or hostile values.

The admin is entered by staff and a superuser (who holds every permission, so every admin page
opens); everyone else knocks on its front door only, as the admin refuses them before it looks
at anything else.
"""

from __future__ import annotations

import copy
import importlib
import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from allauth.usersessions.models import UserSession
from django import forms
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.converters import IntConverter, SlugConverter
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern
from django.utils import timezone

from accounts.roles import Role
from chat.selectors import room_access
from chat.services import message_post, room_join
from groups.models import TherapyGroup
from groups.reminders import preference_for
from groups.services import (
    calendar_feed_get_or_create,
    co_facilitator_add,
    invitation_send,
    note_create,
)
from moderation import services as moderation_services
from tests.chat.conftest import open_session
from tests.factories import (
    TherapistApplicationFactory,
    UserFactory,
    add_totp,
    make_group,
    make_member,
    make_session,
)

pytestmark = pytest.mark.django_db

# --- The addresses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    template: str  # "/groups/{slug}/members/{enrollment_id}/remove/"
    pattern: URLPattern

    @property
    def args(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.template)

    @property
    def name(self) -> str:
        return self.pattern.name or ""

    @property
    def is_admin(self) -> bool:
        return self.template.startswith("/admin/")

    def fill(self, values: dict[str, object]) -> str:
        return re.sub(r"{(\w+)}", lambda m: quote(str(values[m[1]]), safe=""), self.template)


_ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _template(pattern: Any) -> str:
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        text = text.removeprefix("^").removesuffix("$")
    return _ARGUMENT.sub(lambda m: "{" + (m[1] or m[2]) + "}", text)


def all_routes(resolver: URLResolver | None = None, prefix: str = "/") -> list[Route]:
    routes = []
    for entry in (resolver or get_resolver()).url_patterns:
        template = prefix + _template(entry.pattern)
        if isinstance(entry, URLResolver):
            routes += all_routes(entry, template)
        else:
            routes.append(Route(template, entry))
    return routes


# Where people who are not staff knock on the admin's door (it refuses them before anything else).
ADMIN_FRONT = {"/admin/", "/admin/accounts/user/", "/admin/moderation/report/"}

# --- Hostile values ------------------------------------------------------------------------------

# What each kind of path argument can be given that it was not made for (a slug or a number
# takes no other characters: the resolver itself answers those with a 404).
HOSTILE_IN_PATH: dict[type | None, list[object]] = {
    IntConverter: [2**63],
    SlugConverter: ["x" * 300],
    None: [2**63, "ünïcødé-🔥" * 30, "\x00"],
}

# Query parameters read by hand somewhere, besides those of forms sent with GET.
QUERY_NAMES = {"page", "next", "session", "position", "participant", "country", "q", "o", "p"}


FORM_MODULES = [
    "accounts.forms",
    "groups.forms",
    "moderation.forms",
    "moderation.audit_views",
    "moderation.data_rights_views",
    "allauth.account.forms",
    "allauth.mfa.base.forms",
    "allauth.mfa.recovery_codes.forms",
    "allauth.mfa.totp.forms",
    "django.contrib.admin.forms",
    "django.contrib.auth.forms",
]


def _form_fields() -> dict[str, forms.Field]:
    """One field for every name a form of Hearth, allauth or Django's admin and auth reads."""
    for module in FORM_MODULES:
        importlib.import_module(module)
    fields: dict[str, forms.Field] = {}
    pending: list[type] = [forms.BaseForm]
    while pending:
        form = pending.pop()
        pending += form.__subclasses__()
        fields.update(getattr(form, "base_fields", {}))
    return fields


FIELDS = _form_fields()
# The admin's forms are made from the models when asked for, so their fields are the models'.
FIELD_NAMES = set(FIELDS) | {
    field.name for model in apps.get_models() for field in model._meta.concrete_fields
}
DATES = {name for name, field in FIELDS.items() if isinstance(field, forms.DateField)}
NUMBERS = {name for name, field in FIELDS.items() if isinstance(field, forms.IntegerField)}

# Garbage: each kind in every field at once; dates and numbers also alone (the other fields
# left out), so that a form whose other fields are optional gets as far as using them.
EVERYWHERE = {
    "blank": "",
    "over-long": "x" * 2500,
    "NUL byte": "a\x00b",
    "unicode words": "ünïcødé 🔥 \u202e",
    "superscript digit": "²",  # a digit to str.isdigit(), and not a number to int()
}
ALONE = {
    "huge numbers": (NUMBERS | QUERY_NAMES, str(2**63)),
    "far-future dates": (DATES, "9999-12-31"),
    "far-past dates": (DATES, "0001-01-01"),
}
KINDS = [*EVERYWHERE, *ALONE]
# The admin's forms are Django's own, made from the models: fewer kinds find what they can.
ADMIN_KINDS = ["over-long", "NUL byte", "superscript digit"]
ADMIN_CHANGELIST_QUERIES = [
    {"o": "abc", "p": "-1", "q": "\x00"},
    {"q": "\x00"},
    {"q": "ünïcødé 🔥 " + "x" * 300},
    {"o": "99.-42.abc", "p": "99999", "all": ""},
    {"_to_field": "password", "id__gt": "abc", "nonsense__in": "\x00"},
]


def kinds_for(names: set[str]) -> list[str]:
    """The kinds worth sending to a form with these fields (all, when the fields are unknown):
    dates alone only where there are dates, numbers alone only where there are numbers."""
    return [kind for kind in KINDS if not names or kind not in ALONE or ALONE[kind][0] & names]


def garbage(kind: str, names: set[str]) -> dict[str, str]:
    if kind in ALONE:
        alone, value = ALONE[kind]
        return dict.fromkeys(sorted(alone), value)
    return dict.fromkeys(sorted(names), EVERYWHERE[kind])


_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)


def names_in_forms(page, *, method: str) -> set[str]:
    """The names of the controls in the page's forms sent with ``method``."""
    if not page.get("Content-Type", "").startswith("text/html"):
        return set()
    names = set()
    for attributes, body in _FORM.findall(page.content.decode(errors="replace")):
        sent_with = "post" if re.search(r"method=.post", attributes, re.IGNORECASE) else "get"
        if sent_with == method:
            names |= set(re.findall(r'name="([^"]+)"', body))
    return names - {"csrfmiddlewaretoken"}


# --- The scene -----------------------------------------------------------------------------------


@pytest.fixture
def scene(member, therapist, staff_user, outsider):
    """A group led by ``therapist`` with ``member``, another member, someone waiting and a
    co-facilitator; its room open now, with a message that ``member`` reported; a later session;
    a closed group that invited ``member``; ``member``'s calendar feed, reminder choices and a
    login; an application waiting for staff; a suspension; keys to confirm an email and to reset
    a password. Every admin list has a row, so every admin page has an object to show."""
    group = make_group(therapist, title="Evening circle", capacity=3)
    author = make_member(group, display_name="Sharp Wren")
    make_member(group, user=member)
    make_member(group)
    waiting = make_member(group)
    colleague = UserFactory(display_name="Kind Colleague", roles=[Role.THERAPIST])
    add_totp(colleague)
    co_facilitator_add(actor=therapist, group=group, user=colleague)
    session, later = open_session(group), make_session(group, days_ahead=9)
    now = timezone.now()
    room_join(
        access=room_access(user=author.user, session_id=session.pk, now=now),
        channel_name="c",
        now=now,
    )
    message = message_post(
        actor=author.user,
        session_id=session.pk,
        body="You are all pathetic",
        client_id=uuid.uuid4(),
    ).message
    report = moderation_services.report_file(
        actor=member, group=group, reason="harassment", message=message
    )
    note = note_create(actor=therapist, session=session, subject=author.user, body="Quiet")
    closed = make_group(therapist, title="Closed circle", is_closed=True, is_listed=False)
    invitation = invitation_send(actor=therapist, group=closed, email=member.email)
    TherapistApplicationFactory(user=outsider)
    moderation_services.account_suspend(
        actor=staff_user, user=UserFactory(), reason="Spam", until=now + timedelta(days=7)
    )
    UserSession.objects.create(user=member, ip="127.0.0.1", session_key="crawl", user_agent="x")
    unverified = EmailAddress.objects.create(user=outsider, email="second@example.com")
    # Zones far from UTC, so that date arithmetic at the ends of the calendar shows.
    member.time_zone, staff_user.time_zone = "Pacific/Kiritimati", "Pacific/Pago_Pago"
    for person in (member, staff_user):
        person.save(update_fields=["time_zone"])
    return SimpleNamespace(
        group=group,
        closed=closed,
        sessions=[session, later],
        message=message,
        report=report,
        note=note,
        enrollments=[waiting, author],
        colleague=colleague,
        invitation=invitation,
        tokens={
            "invitation": invitation.token,
            "calendar_feed": calendar_feed_get_or_create(actor=member).token,
            "reminders_unsubscribe": preference_for(member).unsubscribe_token,
        },
        email_key=EmailConfirmationHMAC(unverified).key,
        reset=(user_pk_to_url_str(member), default_token_generator.make_token(member)),
    )


def real_values(route: Route, s: SimpleNamespace) -> dict[str, list[object]]:
    """Each path argument's values that reach something real in the scene."""
    admin_model = re.match(r"/admin/(\w+)/(\w+)/{object_id}", route.template)
    if admin_model:
        model = apps.get_model(*admin_model.groups())
        object_ids = list(model.objects.order_by("pk").values_list("pk", flat=True)[:1])
    else:
        object_ids = [s.group.pk]  # the admin's "view on site" link
    return {
        "slug": [s.group.slug, s.closed.slug],
        "session_id": [session.pk for session in s.sessions],
        "enrollment_id": [enrollment.pk for enrollment in s.enrollments],
        "user_id": [s.colleague.pk],
        "invitation_id": [s.invitation.pk],
        "report_id": [s.report.pk],
        "note_id": [s.note.pk],
        "token": [s.tokens[route.name]] if route.name in s.tokens else [],
        "key": [s.reset[1] if "uidb36" in route.args else s.email_key],
        "uidb36": [s.reset[0]],
        "content_type_id": [ContentType.objects.get_for_model(TherapyGroup).pk],
        "object_id": object_ids,
        "app_label": ["accounts", "groups", "moderation"],
        "url": ["no-such-page/", "groups/therapygroup"],
    }


def real_queries(route: Route, s: SimpleNamespace) -> list[str]:
    """Query strings a page is really reached with (besides none)."""
    if route.name == "report":
        session = s.sessions[0].pk
        return [
            f"session={session}&position={s.message.position}",
            f"session={session}&participant={s.message.author_id}",
        ]
    return []


# --- The crawl -----------------------------------------------------------------------------------


class Crawl:
    """Requests as one persona after another, noting every server error with its cause."""

    def __init__(self, client: Client) -> None:
        client.raise_request_exception = False  # a 500 is then a status, with its exc_info
        self.client = client
        self.persona = "anonymous"
        self.requests = 0
        self.failures: list[str] = []
        self.reached: set[str] = set()
        self._fed: set[tuple[object, ...]] = set()

    def become(self, persona: str, user) -> None:
        self.client.logout()
        if user is not None:
            self.client.force_login(user)
        self.persona = persona

    def visit(self, method: str, url: str, data: dict[str, str] | None = None, kind: str = ""):
        """Send one request in a savepoint that is rolled back; note a 500 with its cause."""
        cookies = copy.deepcopy(self.client.cookies)
        with transaction.atomic():
            response = self.client.generic(
                method, url, urlencode(data or {}), "application/x-www-form-urlencoded"
            )
            transaction.set_rollback(True)
        self.client.cookies = cookies
        self.requests += 1
        if response.status_code >= 500 and not _designed_5xx(url, response):
            what = f"{method} {url[:160]} as {self.persona}" + (f" with {kind}" if kind else "")
            cause, where = "no exception", ""
            if response.exc_info:
                cause = "".join(traceback.format_exception_only(response.exc_info[1]))[:300]
                frames = traceback.extract_tb(response.exc_info[2])
                ours = [f for f in frames if "site-packages" not in f.filename] or frames
                where = f" ({ours[-1].filename}:{ours[-1].lineno})"  # the last line of ours
            self.failures.append(f"{response.status_code} for {what}: {cause.strip()}{where}")
        return response

    def first_time(self, *shape: object) -> bool:
        """Whether no persona has been here yet, received the same way (with the same fields)."""
        shape = tuple(frozenset(part) if isinstance(part, set) else part for part in shape)
        if shape in self._fed:
            return False
        self._fed.add(shape)
        return True

    def report(self) -> str:
        return f"{len(self.failures)} server errors:\n" + "\n".join(self.failures)


def _designed_5xx(url: str, response) -> bool:
    """/health/ answers 503 on purpose when a service it checks is down."""
    return url == "/health/" and response.status_code == 503 and response.exc_info is None


def sent_to_log_in(response) -> bool:
    location = response.get("Location", "") if response.status_code == 302 else ""
    return location.startswith((reverse("account_login"), reverse("admin:login")))


def refused(response) -> bool:
    """Whether the persona was turned away before any form was read."""
    return response.status_code in (403, 404, 405) or sent_to_log_in(response)


def real_urls(route: Route, s: SimpleNamespace) -> list[str]:
    real = real_values(route, s)
    missing = [arg for arg in route.args if arg not in real]
    assert not missing, f"{route.template}: give the crawl real values for {missing}"
    if any(not real[arg] for arg in route.args):
        return []
    # The first real value of each argument, then each other real value in turn.
    first = {arg: real[arg][0] for arg in route.args}
    urls = [route.fill(first)] + [
        route.fill(first | {arg: value}) for arg in route.args for value in real[arg][1:]
    ]
    for url in urls:  # a filled template must reach its own pattern, or nothing is tested
        assert resolve(unquote(url)).func is route.pattern.callback, url
    return urls


def hostile_urls(route: Route, s: SimpleNamespace) -> Iterator[str]:
    """Each argument hostile in turn (the others real), where the value reaches the view."""
    real = real_values(route, s)
    first = {arg: (real[arg] or [1])[0] for arg in route.args}
    converters = getattr(route.pattern.pattern, "converters", {})
    for arg in route.args:
        for bad in HOSTILE_IN_PATH.get(type(converters.get(arg)), HOSTILE_IN_PATH[None]):
            url = route.fill(first | {arg: bad})
            try:
                reaches = resolve(unquote(url)).func is route.pattern.callback
            except Resolver404:
                reaches = False
            if reaches:
                yield url


def crawl_route(crawl: Crawl, route: Route, s: SimpleNamespace) -> None:
    """GET each real address, POST to the first (and to any that only take POSTs); unless the
    persona is turned away first, garbage in its query and its form; then hostile addresses."""
    admin_form = route.name.endswith(("_changelist", "_add", "_change"))
    reads_forms = not route.is_admin or admin_form or route.name.endswith("_delete")
    deep = not route.is_admin or (crawl.persona == "superuser" and admin_form)
    received: tuple[int, ...] = ()  # how this persona is answered at the first real address
    for number, url in enumerate(real_urls(route, s)):
        crawl.reached.add(route.template)
        page = crawl.visit("GET", url)
        if sent_to_log_in(page):
            return  # before the view reads its arguments or its form
        if (number and page.status_code != 405) or not reads_forms:
            continue
        posted = crawl.visit("POST", url)
        if number:
            continue
        received = (page.status_code, posted.status_code)
        searched, filled = names_in_forms(page, method="get"), names_in_forms(page, method="post")
        shape = (route.template, *received)
        if deep and page.status_code == 200 and crawl.first_time("query", *shape, searched):
            crawl_query(crawl, route, url, searched, s)
        if route.name.endswith("_changelist"):
            continue  # its form is the actions' menu, sent empty above
        if deep and not refused(posted) and crawl.first_time("form", *shape, filled):
            for kind in ADMIN_KINDS if route.is_admin else kinds_for(filled):
                crawl.visit("POST", url, garbage(kind, FIELD_NAMES | filled), kind=kind)
    if route.is_admin and not (crawl.persona == "superuser" and route.name.endswith("_change")):
        return  # the admin's other object pages find their object as the change page does
    if not crawl.first_time("hostile", route.template, *received):
        return  # received as another persona was, who has been down this path
    for url in hostile_urls(route, s):
        if crawl.visit("GET", url).status_code == 405:
            crawl.visit("POST", url, garbage("NUL byte", FIELD_NAMES), kind="NUL byte")


def crawl_query(crawl: Crawl, route: Route, url: str, searched: set[str], s) -> None:
    """Garbage in the query string: every kind where the page has a search form, the worst
    two elsewhere (a view may read a parameter by hand); odd sorting and paging in the admin."""
    if route.is_admin:
        if route.name.endswith("_changelist"):
            for query in ADMIN_CHANGELIST_QUERIES:
                crawl.visit("GET", f"{url}?{urlencode(query)}")
        return
    for query in real_queries(route, s):
        crawl.visit("GET", f"{url}?{query}")
    for kind in kinds_for(searched) if searched else ["NUL byte", "superscript digit"]:
        query = urlencode(garbage(kind, searched | QUERY_NAMES))
        crawl.visit("GET", f"{url}?{query}", kind=kind)


def _crawl(client, request, personas: list[str], routes: list[Route], scene) -> Crawl:
    crawl = Crawl(client)
    for persona in personas:
        crawl.become(persona, None if persona == "anonymous" else request.getfixturevalue(persona))
        for route in routes:
            crawl_route(crawl, route, scene)
    unreached = [route.template for route in routes if route.template not in crawl.reached]
    assert not unreached, f"no real address for {unreached}: give the scene one"
    return crawl


@pytest.fixture
def quiet_404s(caplog):
    """Django logs every 4xx (with a traceback for some): thousands of them here."""
    caplog.set_level(logging.CRITICAL, logger="django.request")


@pytest.fixture
def no_template_capture(monkeypatch):
    """The crawl reads no response's templates or context, and the test client copies the
    context at every template rendered (each option of the 600 time zones): skip the copy."""
    monkeypatch.setattr("django.test.client.store_rendered_templates", lambda *args, **kw: None)


@pytest.mark.usefixtures("quiet_404s", "no_template_capture")
def test_no_page_answers_anyone_with_a_server_error(client, request, scene):
    routes = [
        route
        for route in all_routes()
        if not route.is_admin or route.template in ADMIN_FRONT  # the admin refuses them first
    ]
    personas = ["anonymous", "member", "therapist", "staff_user", "outsider"]
    crawl = _crawl(client, request, personas, routes, scene)
    assert not crawl.failures, crawl.report()
    assert crawl.requests > 5 * len(routes)


@pytest.mark.usefixtures("quiet_404s", "no_template_capture")
def test_the_admin_answers_odd_input_without_a_server_error(client, request, scene):
    routes = [route for route in all_routes() if route.is_admin]
    crawl = _crawl(client, request, ["staff_user", "superuser"], routes, scene)
    assert not crawl.failures, crawl.report()
    assert crawl.requests > 2 * len(routes)


# --- Error pages ---------------------------------------------------------------------------------


def _not_found(client: Client):
    return client.get("/no-such-page/")


def _forbidden(client: Client):
    return client.get(reverse("admin:index"), follow=True)  # a logged-in person who is not staff


def _bad_request(client: Client):
    return client.get("/", headers={"host": "not a host"})


def _csrf_failure(client: Client):
    return Client(enforce_csrf_checks=True).post(reverse("account_login"))


@pytest.mark.parametrize(
    ("template", "status", "provoke"),
    [
        ("404.html", 404, _not_found),
        ("403.html", 403, _forbidden),
        ("400.html", 400, _bad_request),
        ("403_csrf.html", 403, _csrf_failure),
    ],
)
def test_error_pages_are_hearths_own_with_help_one_click_away(
    client, member, template, status, provoke
):
    client.force_login(member)
    response = provoke(client)
    assert response.status_code == status
    assert template in [t.name for t in response.templates]
    assert "Get help now" in response.content.decode()

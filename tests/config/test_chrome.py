"""The site header and footer, kept once per distinct content (config/templatetags/chrome.py):
each person sees the links their roles give them, whoever was served before them, the page
they are on marked as current, and a logout form with their own page's CSRF token."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def header_of(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    text = response.content.decode()
    return text[text.index('<header class="site-header">') : text.index("</header>")]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_each_person_sees_the_links_of_their_own_roles_whoever_came_before(
    staff_user, therapist, member
):
    staff = header_of(logged_in(staff_user), reverse("groups:my_schedule"))
    lead = header_of(logged_in(therapist), reverse("groups:my_schedule"))
    client = header_of(logged_in(member), reverse("groups:my_schedule"))
    anonymous = header_of(Client(), reverse("home"))

    assert "Audit log" in staff and "Reports" in staff
    assert "Groups I lead" in lead and "Reports" in lead and "Audit log" not in lead
    assert "My schedule" in client
    for link in ("Groups I lead", "Reports", "Audit log", "Staff"):
        assert link not in client
    assert "Log in" in anonymous and "Log out" not in anonymous and "<form" not in anonymous


def test_the_page_shown_is_the_one_marked_current(member):
    client = logged_in(member)
    schedule, profile = reverse("groups:my_schedule"), reverse("accounts:profile")
    on_schedule = header_of(client, schedule)
    on_profile = header_of(client, profile)
    assert f'href="{schedule}" aria-current="page"' in on_schedule
    assert f'href="{profile}" aria-current="page"' not in on_schedule
    assert f'href="{profile}" aria-current="page"' in on_profile
    assert f'href="{schedule}" aria-current="page"' not in on_profile


def test_a_page_the_header_does_not_link_to_marks_nothing(member, therapist):
    from tests.factories import make_group

    group = make_group(therapist, title="Evening calm")
    page = reverse("groups:detail", args=[group.slug])
    assert "aria-current" not in header_of(logged_in(member), page)


def test_the_logout_form_carries_the_pages_own_token_and_works(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    header = header_of(client, reverse("groups:my_schedule"))
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', header)
    assert len(tokens) == 1 and "<!--csrf-->" not in header
    response = client.post(reverse("account_logout"), {"csrfmiddlewaretoken": tokens[0]})
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_two_people_get_different_tokens_in_the_same_kept_header(member, outsider):
    first = header_of(logged_in(member), reverse("groups:my_schedule"))
    second = header_of(logged_in(outsider), reverse("groups:my_schedule"))
    token = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    assert token.search(first).group(1) != token.search(second).group(1)
    assert token.sub("", first) == token.sub("", second)  # the rest is the kept HTML


def test_the_footer_is_on_every_page(member):
    for client, url in ((Client(), reverse("home")), (logged_in(member), reverse("help"))):
        text = client.get(url).content.decode()
        assert '<footer class="site-footer">' in text
        assert f'<a href="{reverse("help")}">Get help now</a>' in text


def test_request_user_is_the_person_not_a_lazy_proxy(member):
    """accounts.middleware.EagerAuthenticationMiddleware."""
    response = logged_in(member).get(reverse("groups:my_schedule"))
    assert type(response.wsgi_request.user) is User
    assert response.wsgi_request.user.pk == member.pk
    assert type(Client().get(reverse("home")).wsgi_request.user) is AnonymousUser


def test_base_html_renders_for_a_person_without_a_request(member):
    """As {% csrf_token %} does, the header prints no token where there is none, and fails
    nothing (a template rendered outside a request, with a plain Context)."""
    from django.template import Context
    from django.template.loader import get_template

    text = get_template("base.html").template.render(Context({"user": member}))
    assert "Log out" in text and "csrfmiddlewaretoken" not in text and "<!--csrf-->" not in text

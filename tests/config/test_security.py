"""Settings and response hardening: production passes check --deploy; pages are never cached
for a logged-in person; logins expire; the CSP forbids inline script."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="hearth.example",
        **extra,
    )
    return env


def test_production_settings_pass_check_deploy():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_production_settings_are_secure():
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_HSTS_PRELOAD)"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["False", "True", "True", "True", "True", "True", "True"]


@pytest.mark.django_db
def test_every_page_carries_a_strict_content_security_policy(client):
    response = client.get(reverse("home"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_pages_for_a_logged_in_person_are_never_stored(client, member):
    assert "no-store" not in client.get(reverse("home")).get("Cache-Control", "")
    client.force_login(member)
    for name in ("home", "help", "accounts:profile"):
        cache_control = client.get(reverse(name))["Cache-Control"]
        assert "no-store" in cache_control and "private" in cache_control


@pytest.mark.django_db
def test_templates_hold_no_inline_script_or_style():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for needle in ("style=", "onclick=", "onload=", "javascript:"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
        for chunk in text.split("<script")[1:]:
            head = chunk.split(">", 1)[0]
            if "src=" not in head and 'type="application/json"' not in head:
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
    assert offenders == []


def test_the_idle_timeout_is_thirty_minutes():
    assert settings.SESSION_COOKIE_AGE == 30 * 60


def _login_rows(client):
    from allauth.usersessions.models import UserSession
    from django.contrib.sessions.models import Session

    key = client.session.session_key
    return (
        Session.objects.get(session_key=key).expire_date,
        UserSession.objects.get(session_key=key).last_seen_at,
    )


@pytest.mark.django_db
def test_activity_renews_the_idle_expiry_at_most_once_a_minute(client, member):
    client.post(reverse("account_login"), {"login": member.email, "password": PASSWORD})
    assert client.get(reverse("accounts:profile")).status_code == 200
    first = _login_rows(client)

    # Within the minute: the page writes neither the session nor the device's "last seen".
    assert client.get(reverse("accounts:profile")).status_code == 200
    assert _login_rows(client) == first

    # A minute on, the next request renews both.
    session = client.session
    session["hearth_seen_at"] -= settings.SESSION_ACTIVITY_SECONDS + 1
    session.save()
    saved = _login_rows(client)
    assert client.get(reverse("accounts:profile")).status_code == 200
    expire_date, last_seen_at = _login_rows(client)
    assert expire_date > saved[0]
    assert last_seen_at > first[1]


@pytest.mark.django_db
def test_a_login_idle_past_its_expiry_is_over(client, member):
    from django.contrib.sessions.models import Session

    client.post(reverse("account_login"), {"login": member.email, "password": PASSWORD})
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_a_login_expires_after_the_absolute_lifetime_however_active(client, member, settings):
    client.post(reverse("account_login"), {"login": member.email, "password": PASSWORD})
    assert client.get(reverse("accounts:profile")).status_code == 200
    session = client.session
    session["hearth_login_at"] = (
        timezone.now() - timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS + 1)
    ).timestamp()
    session.save()
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login")
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_person_sees_their_other_sessions_and_ends_them(client, member):
    other_device = type(client)()
    other_device.post(reverse("account_login"), {"login": member.email, "password": PASSWORD})
    client.post(reverse("account_login"), {"login": member.email, "password": PASSWORD})
    response = client.get(reverse("usersessions_list"))
    assert response.status_code == 200
    assert len(response.context["sessions"]) == 2
    response = client.post(reverse("usersessions_list"))
    assert response.status_code == 302
    assert other_device.get(reverse("accounts:profile")).status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 200


@pytest.mark.redis
@pytest.mark.django_db
def test_repeated_failed_logins_are_rate_limited_on_the_real_cache(client, member):
    assert "redis" in settings.CACHES["default"]["BACKEND"].lower()
    for _ in range(5):
        page = client.post(
            reverse("account_login"), {"login": member.email, "password": "nope"}
        ).content.decode()
        assert "Too many failed login attempts" not in page
    # Now even the right password is refused until the limit expires.
    response = client.post(reverse("account_login"), {"login": member.email, "password": PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session

"""Error pages: a newcomer's `make run` shows Hearth's own 404 and 500, never Django's debug
pages, unless a developer asks for those with DEBUG_PAGES=1.

pytest-django turns Django's DEBUG off for every test, so what the settings module decides
is checked in a fresh process that reads the environment as `make run` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]

# Requests the app as configured by the environment, with an address that always fails
# added (tests/config/crash_urls.py). Nothing here needs the database.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
with override_settings(ROOT_URLCONF="tests.config.crash_urls"):
    pages = {path: client.get(path) for path in ("/a-made-up-address/", "/crash/")}
print(json.dumps({
    "development": getattr(settings, "DEVELOPMENT", None),
    "debug": settings.DEBUG,
    "pages": {path: [r.status_code, r.content.decode()] for path, r in pages.items()},
}))
"""


def _run(**env: str) -> dict:
    """The probe's findings under the laptop defaults, changed by ``env``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "DEBUG_PAGES", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def laptop() -> dict:
    return _run()


@pytest.fixture(scope="module")
def with_debug_pages() -> dict:
    return _run(DEBUG_PAGES="1")


def test_the_laptop_defaults_stay_on_without_djangos_debug_pages(laptop, with_debug_pages):
    assert (laptop["development"], laptop["debug"]) == (True, False)
    assert (with_debug_pages["development"], with_debug_pages["debug"]) == (True, True)


def test_production_never_shows_debug_pages_even_when_asked():
    found = _run(DEBUG="0", DEBUG_PAGES="1", SECRET_KEY="x" * 50, ALLOWED_HOSTS="127.0.0.1")
    assert (found["development"], found["debug"]) == (False, False)
    assert "Traceback" not in found["pages"]["/crash/"][1]


def test_a_made_up_address_shows_hearths_404_not_the_list_of_routes(laptop, with_debug_pages):
    status, page = laptop["pages"]["/a-made-up-address/"]
    assert status == 404
    assert "We could not find that page" in page
    assert f'href="{reverse("help")}"' in page and "Get help now" in page
    for route_listing in ("URLconf", "[name=", "health/"):
        assert route_listing not in page

    # A developer who asks gets Django's page, routes and all.
    status, page = with_debug_pages["pages"]["/a-made-up-address/"]
    assert status == 404
    assert "Using the URLconf defined in" in page


def test_a_failure_shows_hearths_500_without_the_traceback(laptop, with_debug_pages):
    status, page = laptop["pages"]["/crash/"]
    assert status == 500
    assert "Something went wrong on our side" in page
    assert f'href="{reverse("help")}"' in page and "Get help now" in page
    assert f'href="{reverse("home")}"' in page
    for detail in ("Traceback", "RuntimeError", "secret-looking detail", "SECRET_KEY"):
        assert detail not in page

    status, page = with_debug_pages["pages"]["/crash/"]
    assert status == 500
    assert "RuntimeError" in page and "secret-looking detail" in page


def test_the_500_page_renders_with_no_request_and_no_database():
    # No django_db mark: pytest-django refuses any query this test would make.
    page = render_to_string("500.html")
    assert f'href="{reverse("help")}"' in page
    assert "Something went wrong on our side" in page

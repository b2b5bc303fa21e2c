"""Error pages: Hearth's own, in Hearth's voice, with help one click away."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse


def test_the_500_page_renders_with_no_request_and_no_database():
    # No django_db mark: pytest-django refuses any query this test would make.
    page = render_to_string("500.html")
    assert f'href="{reverse("help")}"' in page
    assert "Something went wrong on our side" in page

"""The faster ``{% url %}``, ``{% static %}``, ``{% extends %}`` and ``|date`` give exactly what
Django's own give."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Engine, engines
from django.template.defaultfilters import date as django_date
from django.template.loader_tags import ExtendsNode
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.html import conditional_escape

from config.templatetags import fast

FORMATS = [
    "l j F, H:i",
    "H:i",
    "c",
    "j F Y",
    "l j F",
    "j F, H:i",
    "H:i:s",
    "l j F Y, H:i",
    "j M Y H:i:s",
    "D d/m/Y G:i",
    "j F Y, H:i e",  # the zone's name: not covered, goes to Django's
    r"\w\e\e\k W",  # escapes: not covered
]


def moments() -> list[datetime]:
    start = datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)
    return [start + timedelta(days=d * 11, hours=d * 5, minutes=d * 7) for d in range(80)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_the_date_filter_formats_every_value_as_djangos(fmt, zone):
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        for moment in moments():
            local = timezone.localtime(moment)
            assert fast.date(local, fmt) == django_date(local, fmt)
            assert fast.date(local.date(), "l j F Y") == django_date(local.date(), "l j F Y")


def test_the_date_filter_leaves_empty_and_odd_values_to_django():
    for value in (None, "", "not a date", 12):
        assert fast.date(value, "l j F") == django_date(value, "l j F")
    with pytest.raises(TypeError):  # as Django's: a day has no time
        fast.date(date(2026, 3, 4), "H:i")


def test_the_date_filter_in_another_language_is_djangos():
    moment = datetime(2026, 5, 4, 18, 30, tzinfo=UTC)
    with translation.override("de"):
        assert fast.date(moment, "l j F") == django_date(moment, "l j F") == "Montag 4 Mai"


def test_templates_use_the_fast_builtins_in_the_viewers_zone():
    template = engines["django"].from_string('{{ when|date:"l j F, H:i" }}')
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        text = template.render({"when": datetime(2026, 7, 1, 1, 30, tzinfo=UTC)})
    assert text == "Tuesday 30 June, 21:30"
    assert Engine.get_default().template_builtins[-1].filters["date"] is fast.date


@pytest.mark.django_db
def test_the_url_tag_gives_what_reverse_gives_and_remembers_it():
    fast._reversed.cache_clear()
    template = engines["django"].from_string(
        "{% url 'groups:detail' slug %}|{% url 'groups:session_ics' pk %}|"
        "{% url 'groups:detail' slug as there %}{{ there }}|{% url 'home' %}"
    )
    for slug, pk in [("calm-evenings", 3), ("calm-evenings", 3), ("x-y_z", 12)]:
        text = template.render({"slug": slug, "pk": pk})
        detail = reverse("groups:detail", args=[slug])
        ics = reverse("groups:session_ics", args=[pk])
        assert text == f"{detail}|{ics}|{detail}|{reverse('home')}"
    assert fast._reversed.cache_info().hits >= 3


@pytest.mark.django_db
def test_the_url_tag_still_refuses_what_cannot_be_reversed():
    template = engines["django"].from_string("{% url 'groups:detail' slug %}")
    with pytest.raises(NoReverseMatch):
        template.render({"slug": "has a space"})
    quiet = engines["django"].from_string("{% url 'groups:detail' slug as u %}[{{ u }}]")
    assert quiet.render({"slug": "has a space"}) == "[]"


def test_the_url_tag_escapes_as_djangos():
    template = Engine.get_default().from_string("{% url 'groups:detail' slug %}")
    assert template.render(Context({"slug": "a-b"})) == reverse("groups:detail", args=["a-b"])


def test_the_static_tag_gives_what_djangos_gives_and_remembers_it():
    from django.templatetags.static import static as django_static

    fast._static.cache_clear()
    template = engines["django"].from_string(
        "{% static 'css/hearth.css' %}|{% static path %}|"
        "{% static 'a b&c.css' as there %}{{ there }}"
    )
    for _ in range(2):
        text = template.render({"path": "js/hearth.js"})
        expected = [django_static("css/hearth.css"), django_static("js/hearth.js")]
        assert text.split("|")[:2] == expected
        assert text.split("|")[2] == conditional_escape(django_static("a b&c.css"))
    assert fast._static.cache_info().hits >= 3


def test_base_html_uses_the_remembered_static_tag():
    from django.template.loader import get_template

    nodes = get_template("base.html").template.nodelist.get_nodes_by_type(fast.MemoStaticNode)
    assert len(nodes) == 3


CHAIN = {
    "root.html": "<{% block title %}Root{% endblock %}|{% block body %}"
    "{% block inner %}in{% endblock %}{% endblock %}|{% block foot %}f{% endblock %}>",
    "middle.html": "{% extends 'root.html' %}{% block body %}[{{ block.super }}]"
    "{% block extra %}x{% endblock %}{% endblock %}",
    "page.html": "{% extends 'middle.html' %}{% block title %}{{ who }}{% endblock %}"
    "{% block inner %}{{ block.super }}!{% endblock %}{% block extra %}{{ block.super }}y"
    "{% endblock %}",
    "variable.html": "{% extends parent %}{% block foot %}{{ block.super }}{{ who }}{% endblock %}",
}


def chain_engine(*builtins: str) -> Engine:
    locmem = ("django.template.loaders.locmem.Loader", CHAIN)
    cached = ("django.template.loaders.cached.Loader", [locmem])
    return Engine(loaders=[cached], builtins=list(builtins))


@pytest.mark.parametrize("name", ["page.html", "middle.html", "variable.html"])
def test_the_extends_tag_renders_as_djangos_and_finds_the_root_blocks_once(name):
    kept, djangos = chain_engine("config.templatetags.fast"), chain_engine()
    context = {"who": "<b>me</b>", "parent": "middle.html"}
    for _ in range(3):
        mine = kept.get_template(name).render(Context(context))
        assert mine == djangos.get_template(name).render(Context(context))
    root = kept.get_template("root.html")
    assert set(fast._root_blocks[root]) == {"title", "body", "inner", "foot"}
    assert all(not t.nodelist.get_nodes_by_type(ExtendsNode) for t in fast._root_blocks)


def test_pages_extend_base_html_with_the_kept_blocks_tag():
    from django.template.loader import get_template

    page = get_template("groups/dashboard.html").template
    assert isinstance(page.nodelist[0], fast.KeptBlocksExtendsNode)

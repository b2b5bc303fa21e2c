"""Names that pose as Hearth, its staff or a group's leader are refused with a plain reason,
however they are disguised; ordinary names that merely contain those letters are not; names
are stored without hidden bidirectional controls."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.pseudonyms import sounds_official
from accounts.services import profile_update
from groups.models import Enrollment
from tests.factories import accept_guidelines, make_group

OFFICIAL = (
    "Names that sound like Hearth's staff or a group's leader could confuse people, so please "
    "choose another."
)
SIGNUP = {
    "email": "new.person@example.com",
    "password1": "a-long-calm-password-7",
    "password2": "a-long-calm-password-7",
    "time_zone": "Europe/London",
}


@pytest.mark.parametrize(
    "name",
    [
        "Staff Support",
        "Hearth Team",
        "Facilitator Sam",
        "Your Therapist",
        "Hearth Admin",
        "Sam from Hearth",
        "The moderators",
        "Group Leader",
        "Counsellor Kim",
        "Official Helper",
        "St4ff",  # digits for letters
        "M0d3rat0r",
        "Counse1lor Kim",
        "Adrnin",  # "rn" for "m"
        "S t a f f",  # spaced out
        "Hear-th",
        "HearthTeam",  # run together
        "THESTAFF",
        "YOURTHERAPIST",
        "\uff21\uff44\uff4d\uff49\uff4e",  # full-width "Admin"
        "\U0001d400\U0001d41d\U0001d426\U0001d422\U0001d427",  # mathematical bold "Admin"
        "\u0410dmin",  # Cyrillic capital A
        "\u0397earth",  # Greek capital Eta
        "\u0455taff",  # Cyrillic dze
        "St\u200baff",  # a zero width space inside
        "H\u00e9arth T\u00eaam",  # accents
    ],
)
def test_names_that_pose_as_hearth_its_staff_or_a_leader_sound_official(name):
    assert sounds_official(name)


@pytest.mark.parametrize(
    ("official", "ordinary"),
    [
        ("Staff Wren", "Stafford"),
        ("Team Otter", "Teamwork"),
        ("Team Otter", "Teammate"),
        ("Host Jo", "Hostess"),
        ("Mod Wren", "Modest Wren"),
        ("Support Kim", "Supporter"),
        ("Admin Kim", "Admiral"),
        ("Group Leader", "Leaderboard"),
        ("Hearth Fan", "Hearthstone Fan"),
        ("St4ff Otter", "Quiet Otter 27"),
        ("Therapist Fern", "Gentle Fern"),
        ("Official Light", "Harbor Light"),
        ("Moderator Anne", "Anne-Marie"),
        ("Counsellor Zoë", "Zoë"),
        ("System O'Brien", "O'Brien"),
        ("Аdmin", "Наташа"),  # Cyrillic: "Admin", Natasha
    ],
)
def test_whole_words_sound_official_and_names_that_merely_contain_their_letters_do_not(
    official, ordinary
):
    assert sounds_official(official)
    assert not sounds_official(ordinary)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Hearth Team", "Staff Support", "Your Therapist"])
def test_sign_up_refuses_an_official_sounding_name_with_a_plain_reason(client, name):
    response = client.post(reverse("account_signup"), SIGNUP | {"display_name": name})

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f"<li>{OFFICIAL}</li>" in page
    assert f'value="{name}"' in page  # what they typed is still there
    assert not User.objects.filter(email=SIGNUP["email"]).exists()
    accepted = client.post(reverse("account_signup"), SIGNUP | {"display_name": "Stafford Wren"})
    assert accepted.status_code == 302


@pytest.mark.django_db
def test_sign_up_stores_a_name_without_bidirectional_controls(client):
    response = client.post(
        reverse("account_signup"), SIGNUP | {"display_name": "Quiet \u202eOtter\u202c 12"}
    )

    assert response.status_code == 302
    assert User.objects.get(email=SIGNUP["email"]).display_name == "Quiet Otter 12"


def _save_profile(client, person, display_name: str, time_zone: str = "Europe/London"):
    client.force_login(person)
    return client.post(
        reverse("accounts:profile"),
        {"display_name": display_name, "time_zone": time_zone, "country": ""},
    )


@pytest.mark.django_db
def test_a_member_cannot_take_an_official_name_in_their_profile(client, member):
    response = _save_profile(client, member, "Facilitator Sam")

    assert response.status_code == 200
    assert OFFICIAL in html.unescape(response.content.decode())
    member.refresh_from_db()
    assert member.display_name == "Quiet Otter"
    with pytest.raises(ServiceError) as caught:
        profile_update(actor=member, display_name="Hearth Team", time_zone="UTC", country="")
    assert caught.value.message == OFFICIAL


@pytest.mark.django_db
def test_staff_speak_for_hearth_so_their_names_may_say_so_and_nobody_else_s(
    client, staff_user, member
):
    """The demo's "Sam from Hearth": staff change their time zone and keep their name."""
    response = _save_profile(client, staff_user, "Sam from Hearth", time_zone="Asia/Tokyo")

    assert response.status_code == 302
    profile_update(actor=staff_user, display_name="Hearth Team", time_zone="UTC", country="")
    staff_user.refresh_from_db()
    assert staff_user.display_name == "Hearth Team"
    assert _save_profile(client, member, "Sam from Hearth").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("pseudonym", ["Your Therapist", "Mod3rator Mo", "Facilitator Jo"])
def test_a_group_name_that_sounds_official_is_refused_when_joining(
    client, member, therapist, pseudonym
):
    group = make_group(therapist)
    accept_guidelines(member)
    client.force_login(member)

    response = client.post(reverse("groups:join", args=[group.slug]), {"pseudonym": pseudonym})

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert OFFICIAL in page
    assert pseudonym in page
    assert not Enrollment.objects.exists()


@pytest.mark.django_db
def test_a_group_name_is_stored_without_bidirectional_controls(client, member, therapist):
    group = make_group(therapist)
    accept_guidelines(member)
    client.force_login(member)

    client.post(reverse("groups:join", args=[group.slug]), {"pseudonym": "Blue \u202eKite"})

    assert Enrollment.objects.get().pseudonym == "Blue Kite"


def _admin_user_form(user, **changes: str) -> dict[str, str]:
    return {
        "display_name": user.display_name,
        "email": user.email,
        "time_zone": user.time_zone,
        "country": "",
        "is_active": "on",
    } | changes


@pytest.mark.django_db
def test_staff_name_a_staff_account_in_the_admin_which_is_their_path_and_the_text_is_cleaned(
    client, staff_user, superuser
):
    client.force_login(superuser)
    url = reverse("admin:accounts_user_change", args=[staff_user.pk])

    response = client.post(url, _admin_user_form(staff_user, display_name="Hearth \u202eTeam"))

    assert response.status_code == 302, response.content.decode()[:2000]
    staff_user.refresh_from_db()
    assert staff_user.display_name == "Hearth Team"


@pytest.mark.django_db
def test_the_admin_says_a_limit_kindly_and_changes_nothing(client, staff_user, member):
    client.force_login(staff_user)
    url = reverse("admin:accounts_user_change", args=[member.pk])

    response = client.post(url, _admin_user_form(member, display_name="x" * 41))

    assert response.status_code == 200
    assert "Display name can be up to 40 characters; yours has 41." in html.unescape(
        response.content.decode()
    )
    member.refresh_from_db()
    assert member.display_name == "Quiet Otter"

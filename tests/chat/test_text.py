"""Messages and notices in the room: stored without hidden bidirectional controls, within
their limits, bounded by the database too; pages isolate people's words."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.exceptions import ServiceError
from chat.models import Message, Room
from chat.services import room_pin
from tests.chat.test_room_page import say

pytestmark = pytest.mark.django_db

RLO, PDF = "\u202e", "\u202c"


def test_a_message_is_stored_without_bidirectional_controls(room):
    posted = say(room["alice"], room["session"], f"Look at {RLO}gnp.exe{PDF}\r\n👩\u200d⚕️ ok")

    assert posted.message.body == "Look at gnp.exe\n👩\u200d⚕️ ok"  # the joiner stays
    assert Message.objects.get().body == posted.message.body


@pytest.mark.parametrize("body", [f"{RLO}{PDF}", "\u200b\u2066 \u2069"])
def test_a_message_of_hidden_characters_only_is_empty(room, body):
    with pytest.raises(ServiceError) as caught:
        say(room["alice"], room["session"], body)
    assert caught.value.code == "invalid_body"


def test_a_message_with_a_nul_character_is_refused_as_not_plain_text(room):
    with pytest.raises(ServiceError) as caught:
        say(room["alice"], room["session"], "a\x00b")
    assert caught.value.code == "invalid_body"


def test_a_pinned_notice_is_stored_clean_and_one_too_long_is_refused_with_its_length(
    room, therapist
):
    with pytest.raises(ServiceError) as caught:
        room_pin(actor=therapist, session_id=room["session"].pk, text="x" * 501)
    assert caught.value.message == "Notices can be up to 500 characters; yours has 501."
    assert caught.value.code == "too_long"

    room_pin(actor=therapist, session_id=room["session"].pk, text=f"Be {RLO}kind")

    assert Room.objects.get().pinned_notice == "Be kind"


def test_the_database_bounds_message_bodies_written_around_the_services(room):
    message = say(room["alice"], room["session"], "Hello").message
    Message.objects.filter(pk=message.pk).update(body="x" * 2000)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=message.pk).update(body="x" * 2001)


def test_the_room_isolates_names_and_messages_so_old_controls_reorder_nothing(client, room):
    say(room["alice"], room["session"], "Hello")
    client.force_login(room["bob"])

    page = client.get(reverse("chat:room", args=[room["session"].pk])).content.decode()

    assert '<p class="msg__body" dir="auto">' in page
    assert '<bdi class="msg__name">' in page

"""Writes for groups: creating and running them, scheduling, enrollment and invitations.

Each function is keyword-only, takes the ``actor``, is atomic, records one audit event per
change in the same transaction, and raises ``ServiceError`` with words for the person. Scarce
things (the last seat, a facilitator's hour) are decided under a row lock.
"""

from groups.services._common import may_start_a_group
from groups.services.calendar import (
    calendar_feed_get_or_create,
    calendar_feed_reset,
    calendar_feed_set_group_names,
)
from groups.services.checkout import checkout_answer, checkouts_open
from groups.services.enrollment import (
    enrollment_admit,
    enrollment_create,
    enrollment_remove,
    enrollment_withdraw,
)
from groups.services.finder import finder_answers_forget, finder_answers_keep
from groups.services.groups import (
    EDITABLE_FIELDS,
    co_facilitator_add,
    co_facilitator_remove,
    group_archive,
    group_create,
    group_update,
)
from groups.services.invitations import (
    invitation_accept,
    invitation_decline,
    invitation_revoke,
    invitation_send,
)
from groups.services.listing import next_sessions_advance
from groups.services.notes import note_create, note_update, notes_open
from groups.services.sessions import (
    series_schedule,
    session_cancel,
    session_end,
    session_extend,
    session_reschedule,
    session_schedule,
)

__all__ = [
    "EDITABLE_FIELDS",
    "calendar_feed_get_or_create",
    "calendar_feed_reset",
    "calendar_feed_set_group_names",
    "checkout_answer",
    "checkouts_open",
    "co_facilitator_add",
    "co_facilitator_remove",
    "enrollment_admit",
    "enrollment_create",
    "enrollment_remove",
    "enrollment_withdraw",
    "finder_answers_forget",
    "finder_answers_keep",
    "group_archive",
    "group_create",
    "group_update",
    "invitation_accept",
    "invitation_decline",
    "invitation_revoke",
    "invitation_send",
    "may_start_a_group",
    "next_sessions_advance",
    "note_create",
    "note_update",
    "notes_open",
    "series_schedule",
    "session_cancel",
    "session_end",
    "session_extend",
    "session_reschedule",
    "session_schedule",
]

"""Roles are Django groups with a fixed name; their permissions are declared by each app."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """Everyone is a client; these roles are granted on top, only through ``accounts.services``."""

    THERAPIST = "therapist", "Therapist"
    PEER_SUPERVISOR = "peer_supervisor", "Peer supervisor"
    STAFF = "staff", "Staff"


# Roles whose holders must use two-step login before they reach anything else.
MFA_REQUIRED_ROLES = frozenset({Role.THERAPIST, Role.PEER_SUPERVISOR, Role.STAFF})

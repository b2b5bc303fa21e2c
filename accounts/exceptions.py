"""The domain error every service raises when it refuses: its message is for the person."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal with a message written for the person who asked (plain, kind, specific)."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

"""LOG_FORMAT=json: one JSON object per line; the plain format stays the default."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.logformat import JsonFormatter
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[2]
LOG_A_LINE = """
import django, logging
django.setup()
log = logging.getLogger("hearth.check")
log.warning("room %s closed", 7, extra={"session_id": 7, "reason": "ended"})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("sweep failed\\non two lines")
"""


def run_logging(**env: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOG_A_LINE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stderr.splitlines()


def test_a_json_line_has_the_time_level_logger_message_and_extra_ids():
    record = logging.LogRecord(
        "chat.rooms", logging.INFO, __file__, 1, "socket %s left", (42,), None
    )
    record.session_id = 7
    record.user_id = 3

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "INFO"
    assert entry["logger"] == "chat.rooms"
    assert entry["message"] == "socket 42 left"
    assert entry["session_id"] == 7 and entry["user_id"] == 3
    assert entry["time"].endswith("+00:00")
    assert "args" not in entry and "msg" not in entry and "pathname" not in entry


def test_with_log_format_json_every_line_a_process_logs_is_one_json_object():
    lines = run_logging(LOG_FORMAT="json")

    entries = [json.loads(line) for line in lines]  # each line parses on its own
    assert len(entries) == 2
    warning, failure = entries
    assert warning["message"] == "room 7 closed"
    assert warning["level"] == "WARNING" and warning["logger"] == "hearth.check"
    assert warning["session_id"] == 7 and warning["reason"] == "ended"
    assert failure["level"] == "ERROR"
    assert failure["message"] == "sweep failed\non two lines"
    assert "ZeroDivisionError" in failure["exception"]


def test_without_log_format_the_lines_stay_plain():
    lines = run_logging(LOG_FORMAT="")

    assert lines[0].endswith("WARNING hearth.check room 7 closed")
    assert "Traceback" in "\n".join(lines)


def test_celerys_own_handlers_write_json_too(settings):
    from celery.signals import after_setup_logger

    logger = logging.getLogger("hearth.celery-check")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s: %(levelname)s] %(message)s"))
    logger.addHandler(handler)
    try:
        settings.LOG_FORMAT = "plain"
        after_setup_logger.send(sender=None, logger=logger, loglevel=logging.INFO)
        assert not isinstance(handler.formatter, JsonFormatter)
        settings.LOG_FORMAT = "json"
        after_setup_logger.send(sender=None, logger=logger, loglevel=logging.INFO)
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        logger.removeHandler(handler)


def test_an_unknown_log_format_is_refused_at_startup():
    assert settings_for(LOG_FORMAT=None)["LOGGING"]["handlers"]["console"]["formatter"] == "plain"
    assert settings_for(LOG_FORMAT="JSON")["LOGGING"]["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        settings_for(LOG_FORMAT="xml")

"""The Celery application: configured from Django settings (the ``CELERY_`` names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from config.logformat import use_json_formatter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hearth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _logs_as_json_lines(logger: Any, **kwargs: Any) -> None:
    """Celery's worker and beat replace the root and task loggers' handlers with their own
    format: with LOG_FORMAT=json, they write JSON lines like every other process."""
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        use_json_formatter(logger)

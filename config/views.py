"""The public pages that belong to no one app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.models import JobRun
from config import metrics as process_metrics
from config.celery import app as celery_app
from config.monitoring import metrics_allowed, metrics_lines
from config.page_cache import anonymous_cacheable


@anonymous_cacheable
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """What a Hearth group is, and how it differs from a chat room."""
    return render(request, "pages/home.html")


@anonymous_cacheable
@require_safe
def how_it_works(request: HttpRequest) -> HttpResponse:
    """What happens before, during and after a session."""
    return render(request, "pages/how_it_works.html")


@never_cache
@require_safe
def ping(request: HttpRequest) -> HttpResponse:
    """Answer "ok" without touching the database: for load balancers, and the benchmarks'
    baseline."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Whether the database, cache and broker answer, and when each periodic job last
    succeeded (a job is late after twice its interval). 503 when anything is wrong."""
    checks: dict[str, Any] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError:
        checks["database"] = "unreachable"
    try:
        cache.set("health:ping", "1", timeout=10)
        checks["cache"] = "ok" if cache.get("health:ping") == "1" else "not storing"
    except Exception:
        checks["cache"] = "unreachable"
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception:
        checks["broker"] = "unreachable"
    now = timezone.now()
    runs = {run.name: run for run in JobRun.objects.all()} if checks["database"] == "ok" else {}
    jobs = {}
    for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
        run = runs.get(key)
        interval = entry["schedule"]
        late = run is None or now - run.last_success_at > 2 * interval
        jobs[key] = {
            "last_success": run.last_success_at.isoformat() if run else None,
            "every_seconds": int(interval.total_seconds()),
            "late": late,
        }
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "failing", "checks": checks, "jobs": jobs},
        status=200 if healthy else 503,
    )


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for allowed networks or the metrics token only; a 404 for
    anyone else, as if there were nothing here."""
    if not metrics_allowed(request):
        raise Http404
    body = "\n".join(metrics_lines(now=timezone.now())) + "\n"
    return HttpResponse(body, content_type=process_metrics.CONTENT_TYPE)

"""WebSocket URL patterns, gathered from the apps that serve sockets."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []

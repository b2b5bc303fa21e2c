"""WebSocket URL patterns, gathered from the apps that serve sockets."""

from __future__ import annotations

from chat.routing import websocket_urlpatterns as chat_patterns

websocket_urlpatterns = [*chat_patterns]

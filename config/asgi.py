"""ASGI entry point served by daphne: HTTP through Django, WebSockets through Channels.

Every socket passes the Origin check (``AllowedHostsOriginValidator``) and is authenticated
from the session cookie before any consumer sees it.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.middleware import socket_auth_stack  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            socket_auth_stack(URLRouter(websocket_urlpatterns))
        ),
    }
)

from tests.chat.conftest import (  # noqa: F401  (shared room fixtures)
    _close_connections_of_the_database_thread,
    _generous_rate_limit,
    room,
)

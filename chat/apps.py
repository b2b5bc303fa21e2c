from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The live text room of each group session."""

    name = "chat"
    verbose_name = "Live rooms"

    def ready(self) -> None:
        from chat import receivers  # noqa: F401  (connects the signal receivers)

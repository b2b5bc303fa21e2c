from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The live text room of each group session."""

    name = "chat"
    verbose_name = "Live rooms"

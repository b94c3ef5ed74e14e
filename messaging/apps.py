from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        # Fail at start-up, with the variable's name, rather than at the first send.
        from messaging.backends import load_backend_class

        load_backend_class()

        from messaging import signals  # noqa: F401 - connects the receivers

from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = "Usage statistics"

    def ready(self):
        from . import receivers

        receivers.connect()

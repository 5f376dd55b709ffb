from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices and push"

    def ready(self):
        from chat import signals

        from . import receivers

        signals.message_sent.connect(
            receivers.push_on_message_sent, dispatch_uid="devices.push_on_message_sent"
        )
        signals.message_read.connect(
            receivers.clear_on_message_read, dispatch_uid="devices.clear_on_message_read"
        )

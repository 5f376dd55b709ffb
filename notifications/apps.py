from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from chat import signals

        from . import receivers

        signals.message_sent.connect(
            receivers.pend_digest_on_message_sent,
            dispatch_uid="notifications.pend_digest_on_message_sent",
        )
        signals.message_read.connect(
            receivers.drop_digest_on_message_read,
            dispatch_uid="notifications.drop_digest_on_message_read",
        )
        signals.message_updated.connect(
            receivers.drop_digest_on_message_updated,
            dispatch_uid="notifications.drop_digest_on_message_updated",
        )

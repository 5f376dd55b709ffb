"""The deactivate_user permission and the moderators group with exactly what moderators need.

Moderators (staff users in ``settings.CHAT_MODERATOR_GROUP``) read messages,
rooms, memberships, reports, the audit log and users; they soft-delete
messages and resolve reports (the "change" permissions carry those admin
actions), mute, add and remove members, and deactivate users. They cannot
edit users, rooms or messages' text, nor rewrite the audit log.
"""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

MODERATOR_PERMISSIONS = [
    ("chat", "view_message"),
    ("chat", "change_message"),
    ("chat", "view_report"),
    ("chat", "change_report"),
    ("chat", "view_room"),
    ("chat", "view_membership"),
    ("chat", "add_membership"),
    ("chat", "change_membership"),
    ("chat", "delete_membership"),
    ("chat", "view_moderationaction"),
    ("chat", "deactivate_user"),
    ("auth", "view_user"),
]


def create_moderators_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; this one
    # needs them now, on a fresh database too.
    for label in ("auth", "chat"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=settings.CHAT_MODERATOR_GROUP)
    wanted = []
    for app_label, codename in MODERATOR_PERMISSIONS:
        wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    group.permissions.set(wanted)


def remove_moderators_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=settings.CHAT_MODERATOR_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("chat", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="moderationaction",
            options={
                "ordering": ["-created_at"],
                "permissions": [("deactivate_user", "Can deactivate users")],
            },
        ),
        migrations.RunPython(create_moderators_group, remove_moderators_group),
    ]

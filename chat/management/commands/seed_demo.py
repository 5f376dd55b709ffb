"""Create demo users and a demo room for `make run` (idempotent)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from chat import services
from chat.models import Room

DEMO_USERS = [("alice", "alice-demo-2026"), ("bob", "bob-demo-2026"), ("carol", "carol-demo-2026")]
ADMIN = ("admin", "admin-demo-2026")


class Command(BaseCommand):
    help = "Create demo users (alice, bob, carol, admin) and a 'general' room."

    def handle(self, *args, **options):
        User = get_user_model()
        with transaction.atomic():
            users = []
            for username, password in DEMO_USERS:
                user, created = User.objects.get_or_create(
                    username=username, defaults={"email": f"{username}@example.com"}
                )
                if created:
                    user.set_password(password)
                    user.save()
                users.append(user)
            admin, created = User.objects.get_or_create(
                username=ADMIN[0],
                defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True},
            )
            if created:
                admin.set_password(ADMIN[1])
                admin.save()
            if not Room.objects.filter(name="general", kind=Room.Kind.GROUP).exists():
                services.room_create(
                    owner=users[0], name="general", member_ids=[u.pk for u in users[1:]]
                )
        self.stdout.write("Demo logins (username / password):")
        for username, password in DEMO_USERS + [ADMIN]:
            self.stdout.write(f"  {username:6} / {password}")
        self.stdout.write("Everyone is in the room 'general'; 'admin' can use /admin/.")

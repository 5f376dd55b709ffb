"""Settings, read from the environment (12-factor).

With nothing set, the project runs on embedded defaults that need no service:
a SQLite file, Channels' in-memory layer and a file-system Celery broker.
With ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` set, the same code runs on
PostgreSQL, the channels-redis layer and a Redis broker. Every setting is
described in docs/configuration.md.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local work)."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "chat",
    "devices",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatproject.urls"
ASGI_APPLICATION = "chatproject.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so two senders
    # never deadlock upgrading a read lock; the timeout lets them queue.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            # NORMAL: a commit is not flushed to disk on its own; the
            # write-ahead log is, at each checkpoint. A committed message
            # survives any crash of the service, but a power cut or an OS
            # crash may lose the last commits (docs/configuration.md). That
            # flush per commit held the one database thread at each send.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous="
            + env.str("SQLITE_SYNCHRONOUS", default="NORMAL")
            + ";",
        }
    )
    # A file, not the shared-cache memory database: that one takes table
    # locks that ignore the busy timeout, so concurrent tests would fail.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    # Kept open like PostgreSQL's: reopening on every database hop cost a
    # connect, the init command and a WAL checkpoint on close (docs/performance.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, channel layer, Celery -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CHANNEL_CAPACITY = env.int("CHANNEL_CAPACITY", default=2000)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "capacity": CHANNEL_CAPACITY,
                "expiry": 60,
                "prefix": env.str("CHANNEL_PREFIX", default="chat"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 60},
        }
    }

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    # A broker that needs no server: daphne and the worker exchange task
    # files through this folder. Good for one machine, not for production.
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange tables; kombu's default is a "control" folder in the cwd.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest countdown, so that a delayed task is not
        # redelivered while its first copy still waits in a worker.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 86400),
        # How often a worker looks for tasks whose worker died (older than the
        # visibility timeout); kombu's default looks every 100 s.
        "unacked_restore_interval": env.int("CELERY_RESTORE_INTERVAL", default=10),
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Task calls a process holds (chatproject/enqueue.py) while the broker is slow
# or down, before it drops new ones. TODO(compat): drop the PUSH_ name once
# deployments have moved to ENQUEUE_QUEUE_SIZE.
ENQUEUE_QUEUE_SIZE = env.int(
    "ENQUEUE_QUEUE_SIZE", default=env.int("PUSH_ENQUEUE_QUEUE_SIZE", default=10000)
)

# --- Auth and REST --------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat-page"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "send": env.str("THROTTLE_SEND", default="120/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chat API",
    "DESCRIPTION": "REST API of the chat service; see docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Chat -----------------------------------------------------------------
CHAT_MAX_BODY = 4000
CHAT_MAX_FRAME_BYTES = 64 * 1024
CHAT_RATE_PER_SECOND = env.float("CHAT_RATE_PER_SECOND", default=20.0)
CHAT_RATE_BURST = env.int("CHAT_RATE_BURST", default=40)
CHAT_MAX_SOCKETS_PER_USER = env.int("CHAT_MAX_SOCKETS_PER_USER", default=5)
CHAT_RESUME_LIMIT = env.int("CHAT_RESUME_LIMIT", default=500)
# A socket whose client leaves more than this unread is closed with 4008 (it resumes).
CHAT_SEND_BUFFER_BYTES = env.int("CHAT_SEND_BUFFER_BYTES", default=4 * 1024 * 1024)
# How often (seconds) daphne's event loop thread hands the interpreter lock
# to the database thread when that one wants it back (sys.setswitchinterval;
# Python's default is 0.005). Shorter, a send's queries stop queueing behind
# a busy loop after each database call (docs/performance.md).
CHAT_SWITCH_INTERVAL = env.float("CHAT_SWITCH_INTERVAL", default=0.0002)
# daphne freezes the objects it loaded at startup out of the garbage
# collector's full passes (ops/runtime.py, docs/performance.md).
CHAT_GC_FREEZE = env.bool("CHAT_GC_FREEZE", default=True)
# A socket is not read while this many of its frames wait to be handled.
CHAT_MAX_QUEUED_FRAMES = env.int("CHAT_MAX_QUEUED_FRAMES", default=64)
# How many of one socket's message.send frames may wait for the database at
# once (pipelined: they share batches, and are acked in order).
CHAT_MAX_SENDS_IN_FLIGHT = env.int("CHAT_MAX_SENDS_IN_FLIGHT", default=32)
# A node refreshes its presence heartbeat every third of this; the users of a
# node that died unannounced count as offline once it has passed.
CHAT_PRESENCE_EXPIRY = env.int("CHAT_PRESENCE_EXPIRY", default=30)
CHAT_MODERATOR_GROUP = "moderators"

# --- Email ----------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="chat@localhost")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- notifications ---
# Missed-message digests (docs/notifications.md). A stuck SMTP server must not
# hold a worker longer than a sweep's patience with a "sending" digest.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
NOTIFICATIONS_SWEEP_SECONDS = env.int("NOTIFICATIONS_SWEEP_SECONDS", default=60)
NOTIFICATIONS_SWEEP_GRACE_SECONDS = env.int("NOTIFICATIONS_SWEEP_GRACE_SECONDS", default=30)
NOTIFICATIONS_STALE_SENDING_SECONDS = env.int("NOTIFICATIONS_STALE_SENDING_SECONDS", default=600)
NOTIFICATIONS_MAX_PER_ROOM = env.int("NOTIFICATIONS_MAX_PER_ROOM", default=20)
NOTIFICATIONS_RETENTION_DAYS = env.int("NOTIFICATIONS_RETENTION_DAYS", default=7)
# Messages whose pend task never ran are pended by the sweep once they are
# older than the grace period and as long as they are younger than the window.
NOTIFICATIONS_PEND_GRACE_SECONDS = env.int("NOTIFICATIONS_PEND_GRACE_SECONDS", default=60)
NOTIFICATIONS_PEND_WINDOW_SECONDS = env.int("NOTIFICATIONS_PEND_WINDOW_SECONDS", default=3600)
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["notifications-digest-sweep"] = {
    "task": "notifications.tasks.digest_sweep",
    "schedule": float(NOTIFICATIONS_SWEEP_SECONDS),
}

# --- devices ---
# Push notifications (docs/push.md): which provider serves each platform, its
# credentials and endpoints, retries. Each setting is in docs/configuration.md.
MIDDLEWARE += ["devices.middleware.DeviceHeaderMiddleware"]
PUSH_BACKENDS = {
    "android": env.str("PUSH_ANDROID_BACKEND", default="log"),
    "ios": env.str("PUSH_IOS_BACKEND", default="log"),
    "web": env.str("PUSH_WEB_BACKEND", default="log"),
}
for _platform, _backend in PUSH_BACKENDS.items():
    if _backend not in ("log", "fcm", "apns", "webpush") and "." not in _backend:
        raise ImproperlyConfigured(f"PUSH_{_platform.upper()}_BACKEND: unknown {_backend!r}.")
PUSH_HIDE_CONTENT = env.bool("PUSH_HIDE_CONTENT", default=False)
PUSH_BODY_MAX_CHARS = env.int("PUSH_BODY_MAX_CHARS", default=200)
PUSH_TIMEOUT = env.float("PUSH_TIMEOUT", default=10.0)
# How long a claimed push counts as being sent by its worker; past it, a
# redelivered task sends it again. Longer than one provider request can take.
PUSH_CLAIM_LEASE = env.float("PUSH_CLAIM_LEASE", default=2 * PUSH_TIMEOUT + 5)
PUSH_MAX_RETRIES = env.int("PUSH_MAX_RETRIES", default=8)
PUSH_RETRY_BASE_DELAY = env.float("PUSH_RETRY_BASE_DELAY", default=2.0)
PUSH_RETRY_MAX_DELAY = env.float("PUSH_RETRY_MAX_DELAY", default=600.0)
PUSH_RETRY_AFTER_MAX = env.float("PUSH_RETRY_AFTER_MAX", default=3600.0)
PUSH_DEVICE_SEEN_INTERVAL = env.int("PUSH_DEVICE_SEEN_INTERVAL", default=300)
PUSH_FCM_CREDENTIALS = env.str("PUSH_FCM_CREDENTIALS", default="")
PUSH_FCM_PROJECT_ID = env.str("PUSH_FCM_PROJECT_ID", default="")
PUSH_FCM_ENDPOINT = env.str("PUSH_FCM_ENDPOINT", default="https://fcm.googleapis.com")
PUSH_APNS_KEY_FILE = env.str("PUSH_APNS_KEY_FILE", default="")
PUSH_APNS_KEY_ID = env.str("PUSH_APNS_KEY_ID", default="")
PUSH_APNS_TEAM_ID = env.str("PUSH_APNS_TEAM_ID", default="")
PUSH_APNS_TOPIC = env.str("PUSH_APNS_TOPIC", default="")
PUSH_APNS_ENDPOINT = env.str("PUSH_APNS_ENDPOINT", default="https://api.push.apple.com")
PUSH_APNS_CA_FILE = env.str("PUSH_APNS_CA_FILE", default="")
PUSH_VAPID_PRIVATE_KEY = env.str("PUSH_VAPID_PRIVATE_KEY", default="")
PUSH_VAPID_SUBJECT = env.str("PUSH_VAPID_SUBJECT", default="")
PUSH_WEBPUSH_TTL = env.int("PUSH_WEBPUSH_TTL", default=86400)
# Web Push endpoints come from browsers; only these push services (and their
# subdomains) are accepted, so a client cannot aim the worker elsewhere.
PUSH_WEBPUSH_ALLOWED_HOSTS = env.list(
    "PUSH_WEBPUSH_ALLOWED_HOSTS",
    default=[
        "fcm.googleapis.com",
        "push.services.mozilla.com",
        "notify.windows.com",
        "push.apple.com",
    ],
)
PUSH_WEBPUSH_ALLOW_HTTP = env.bool("PUSH_WEBPUSH_ALLOW_HTTP", default=False)
PUSH_DELIVERY_RETENTION_DAYS = env.int("PUSH_DELIVERY_RETENTION_DAYS", default=14)
# The push sweep re-enqueues push work whose task was lost, for messages and
# deliveries younger than the window and older than the grace period (the
# live task normally finishes first); no push waits for the broker's
# visibility timeout.
PUSH_SWEEP_SECONDS = env.int("PUSH_SWEEP_SECONDS", default=60)
PUSH_SWEEP_GRACE_SECONDS = env.int("PUSH_SWEEP_GRACE_SECONDS", default=60)
PUSH_SWEEP_WINDOW_SECONDS = env.int("PUSH_SWEEP_WINDOW_SECONDS", default=3600)
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["devices-push-deliveries-prune"] = {
    "task": "devices.tasks.push_deliveries_prune",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["devices-push-sweep"] = {
    "task": "devices.tasks.push_sweep",
    "schedule": float(PUSH_SWEEP_SECONDS),
}

# --- Static files, i18n ---------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security headers -----------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Logging --------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "text"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "chat": {"level": LOG_LEVEL},
        "devices": {"level": LOG_LEVEL},
        "notifications": {"level": LOG_LEVEL},
        "chatproject": {"level": LOG_LEVEL},
    },
}

# --- web page -------------------------------------------------------------
# The Content-Security-Policy header of every HTML page (chat/web/middleware.py):
# scripts and styles from this origin only, no inline script; "{sockets}" becomes
# the ws:// and wss:// URLs of the requesting host. docs/configuration.md.
MIDDLEWARE += ["chat.web.middleware.ContentSecurityPolicyMiddleware"]
CSP_POLICY = env.str(
    "CSP_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' {sockets}; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
)
# The REST API's browsable docs (drf-spectacular's Swagger page) set their own rules.
CSP_EXEMPT_PATHS = ["/api/"]

# --- chat REST API ---
# Swagger UI at /api/docs/ loads its scripts from this server (the sidecar
# package), not from a CDN. Throttle rates are THROTTLE_LOGIN and THROTTLE_SEND
# above (docs/configuration.md, docs/rest.md).
INSTALLED_APPS += ["drf_spectacular_sidecar"]
# How many proxies in front of daphne append to X-Forwarded-For. 0: the login
# throttle counts per connecting address and ignores the header, which any
# client could otherwise forge to dodge it.
REST_FRAMEWORK["NUM_PROXIES"] = env.int("THROTTLE_NUM_PROXIES", default=0)
# Throttle counters: in Redis when REDIS_URL is set, so that every daphne
# process shares them; otherwise in each process's memory.
_LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
CACHES = globals().get("CACHES", {"default": {"BACKEND": _LOCMEM}})
if REDIS_URL:
    CACHES["throttle"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CHANNEL_PREFIX", default="chat") + "-throttle",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
else:
    CACHES["throttle"] = {"BACKEND": _LOCMEM, "LOCATION": "throttle"}
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": "REST API of the chat service; see docs/rest.md.",
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
)

# --- ops ---
# Health, readiness, metrics, structured logs, graceful restarts and start-up
# validation (ops/), and daily usage statistics (stats/). docs/deployment.md
# explains them; docs/configuration.md lists each setting.
INSTALLED_APPS += ["ops", "stats"]
MIDDLEWARE.insert(0, "ops.middleware.RequestIdMiddleware")
# "production" makes DEBUG=1 a start-up error and tightens the secret checks.
DEPLOY_ENV = env.str("DEPLOY_ENV", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.0/8", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
METRICS_WORKER_ADDRESS = env.str("METRICS_WORKER_ADDRESS", default="127.0.0.1")
SHUTDOWN_DRAIN_SECONDS = env.float("SHUTDOWN_DRAIN_SECONDS", default=5.0)
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'text' or 'json'.")
LOGGING["filters"] = {"context": {"()": "ops.logging.ContextFilter"}}
LOGGING["formatters"].update(
    {"text": {"()": "ops.logging.TextFormatter"}, "json": {"()": "ops.logging.JsonFormatter"}}
)
LOGGING["handlers"]["console"].update({"formatter": LOG_FORMAT, "filters": ["context"]})
LOGGING["loggers"].update({"ops": {"level": LOG_LEVEL}, "stats": {"level": LOG_LEVEL}})
if LOG_FORMAT == "json":
    # Celery's own lines go through the same handler instead of its text format.
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
    LOGGING["loggers"]["celery"] = {"level": "INFO"}
# Usage statistics are recomputed this long after the first event of a burst,
# and for today and yesterday by beat every STATS_SWEEP_SECONDS.
STATS_DELAY_SECONDS = env.int("STATS_DELAY_SECONDS", default=60)
STATS_SWEEP_SECONDS = env.int("STATS_SWEEP_SECONDS", default=600)
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["stats-usage-sweep"] = {
    "task": "stats.tasks.usage_sweep",
    "schedule": float(STATS_SWEEP_SECONDS),
}

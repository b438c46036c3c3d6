"""The one settings module. Every knob comes from the environment (docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url

from devflow.core.env import (
    default_data_dir,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = default_data_dir()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


def _django_secret_key() -> str:
    """Use DEVFLOW_DJANGO_SECRET, else a random key kept 0600 in the data directory."""
    configured = env_secret("DEVFLOW_DJANGO_SECRET")
    if configured:
        return configured
    path = DATA_DIR / "django-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY = _django_secret_key()
DEBUG = env_bool("DEVFLOW_DEBUG", False)
ALLOWED_HOSTS = env_list("DEVFLOW_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DEVFLOW_CSRF_TRUSTED_ORIGINS")
# Public URL used in e-mails (invitations); defaults to the bind address.
DEVFLOW_PUBLIC_URL = env_str("DEVFLOW_PUBLIC_URL", "").rstrip("/")
DEVFLOW_OPEN_SIGNUP = env_bool("DEVFLOW_OPEN_SIGNUP", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "devflow.core",
    "devflow.accounts",
    "devflow.servers",
    "devflow.projects",
    "devflow.deployments",
    "devflow.webhooks",
    "devflow.monitoring",
    "devflow.notifications",
    "devflow.api",
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
    "devflow.accounts.middleware.CurrentTeamMiddleware",
]

ROOT_URLCONF = "devflow.urls"
ASGI_APPLICATION = "devflow.asgi.application"
WSGI_APPLICATION = "devflow.wsgi.application"

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
                "devflow.accounts.context_processors.teams",
            ],
        },
    }
]


def _databases() -> dict[str, Any]:
    url = env_secret("DATABASE_URL")
    if url:
        # Persistent connections are unsafe under ASGI (Django docs); workers reuse theirs.
        max_age = env_int("DEVFLOW_DB_CONN_MAX_AGE", 0)
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=max_age))
        if config["ENGINE"].endswith("sqlite3"):
            config.update(_sqlite_options())
        return {"default": config}
    sqlite_path = DATA_DIR / "devflow.sqlite3"
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            "TEST": {"NAME": str(DATA_DIR / "test-devflow.sqlite3")},
            **_sqlite_options(),
        }
    }


def _sqlite_options() -> dict[str, Any]:
    # Web, worker and scheduler all write to the one file: IMMEDIATE transactions
    # and a busy timeout avoid "database is locked"; WAL lets readers run alongside.
    return {
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_COOKIE_AGE = env_int("DEVFLOW_SESSION_AGE_SECONDS", 60 * 60 * 12)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("DEVFLOW_SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("DEVFLOW_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Login rate limiting: lockout after this many failures in the window, per account and per address.
DEVFLOW_LOGIN_MAX_FAILURES = env_int("DEVFLOW_LOGIN_MAX_FAILURES", 5)
DEVFLOW_LOGIN_WINDOW_SECONDS = env_int("DEVFLOW_LOGIN_WINDOW_SECONDS", 15 * 60)
DEVFLOW_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("DEVFLOW_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
DEVFLOW_INVITATION_DAYS = env_int("DEVFLOW_INVITATION_DAYS", 7)
DEVFLOW_SETUP_TOKEN_FILE = DATA_DIR / "setup-token"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DEVFLOW_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# Only `devflow manage collectstatic` needs a folder (for a proxy serving /static/ itself);
# otherwise WhiteNoise serves straight from the package folders.
STATIC_ROOT = env_str("DEVFLOW_STATIC_ROOT") or None
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the package folders so `devflow up` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

EMAIL_BACKEND = env_str("DEVFLOW_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("DEVFLOW_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DEVFLOW_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DEVFLOW_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_secret("DEVFLOW_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DEVFLOW_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEVFLOW_EMAIL_FROM", "DevFlow Pro <devflow@localhost>")

# Encryption keys for secrets at rest: DEVFLOW_SECRET_KEYS (comma-separated Fernet keys,
# newest first) or the key file, created 0600 on first start.
DEVFLOW_SECRET_KEYS = env_secret("DEVFLOW_SECRET_KEYS")
DEVFLOW_SECRET_KEY_FILE = Path(env_str("DEVFLOW_SECRET_KEY_FILE", str(DATA_DIR / "secret.keys")))

# Jobs, queue, scheduler.
REDIS_URL = env_secret("REDIS_URL")
BROKER_DIR = DATA_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }
DEVFLOW_JOB_HEARTBEAT_SECONDS = env_int("DEVFLOW_JOB_HEARTBEAT_SECONDS", 5)
DEVFLOW_JOB_STALE_SECONDS = env_int("DEVFLOW_JOB_STALE_SECONDS", 30)
# A queued job no worker picked up in this long (lost message, no worker) is failed.
DEVFLOW_JOB_QUEUED_MAX_SECONDS = env_int("DEVFLOW_JOB_QUEUED_MAX_SECONDS", 6 * 60 * 60)
DEVFLOW_SCHEDULER_TICK_SECONDS = env_int("DEVFLOW_SCHEDULER_TICK_SECONDS", 5)
DEVFLOW_WORKER_CONCURRENCY = env_int("DEVFLOW_WORKER_CONCURRENCY", 4)
# Servers a bulk action works on at once (each is one SSH connection from one worker).
DEVFLOW_BULK_CONCURRENCY = env_int("DEVFLOW_BULK_CONCURRENCY", 100)
# Webhook deliveries older than this many days are deleted by the scheduler.
DEVFLOW_WEBHOOK_RETENTION_DAYS = env_int("DEVFLOW_WEBHOOK_RETENTION_DAYS", 30)
# Notification deliveries (and their log) older than this many days are deleted.
DEVFLOW_NOTIFICATION_RETENTION_DAYS = env_int("DEVFLOW_NOTIFICATION_RETENTION_DAYS", 30)
# Extra CA certificates (PEM file) trusted by health checks and notifiers.
DEVFLOW_CA_BUNDLE = env_str("DEVFLOW_CA_BUNDLE", "")
# Server metrics: collected every this many seconds; raw samples are kept 48 h, roll-ups
# for the days below.
DEVFLOW_METRICS_INTERVAL_SECONDS = max(env_int("DEVFLOW_METRICS_INTERVAL_SECONDS", 60), 10)
DEVFLOW_METRICS_MINUTE_RETENTION_DAYS = env_int("DEVFLOW_METRICS_MINUTE_RETENTION_DAYS", 30)
DEVFLOW_METRICS_HOUR_RETENTION_DAYS = env_int("DEVFLOW_METRICS_HOUR_RETENTION_DAYS", 400)
# The worker keeps each server's SSH connection open between collections, closing one unused
# for this many seconds (0: a fresh connection every collection).
DEVFLOW_METRICS_KEEP_CONNECTIONS_SECONDS = env_int("DEVFLOW_METRICS_KEEP_CONNECTIONS_SECONDS", 300)

# The REST API (/api/v1/): tokens or the session; one permission rule; problem+json errors.
DEVFLOW_API_RATE_PER_TOKEN = env_str("DEVFLOW_API_RATE_PER_TOKEN", "600/min")
DEVFLOW_API_RATE_PER_ADDRESS = env_str("DEVFLOW_API_RATE_PER_ADDRESS", "1200/min")
DEVFLOW_API_BAD_TOKENS_PER_MINUTE = env_int("DEVFLOW_API_BAD_TOKENS_PER_MINUTE", 20)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "devflow.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["devflow.api.permissions.TeamRolePermission"],
    "DEFAULT_THROTTLE_CLASSES": [
        "devflow.api.throttling.PerTokenThrottle",
        "devflow.api.throttling.PerAddressThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "devflow.api.pagination.Pages",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "devflow.api.errors.handle",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DevFlow Pro API",
    "DESCRIPTION": "Everything the page does. Versioned under /api/v1/; see docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "devflow.api.schema.strict_request_bodies",
        "devflow.api.examples.attach",
    ],
    "ENUM_NAME_OVERRIDES": {
        # Jobs and activity rows share one set of origins (web, api, cli, webhook, ...).
        "OriginEnum": "devflow.core.models.jobs.JobTrigger",
        "DeployTriggerEnum": "devflow.deployments.models.DeployTrigger",
    },
}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DEVFLOW_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "celery": {"level": "WARNING"},
        "kombu.connection": {"level": "ERROR"},
        "asyncssh": {"level": "WARNING"},
    },
}

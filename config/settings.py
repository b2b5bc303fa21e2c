"""Hearth settings: one module, read from the environment.

The defaults are safe for a laptop (the embedded PostgreSQL that ``make run`` starts, an
in-memory channel layer, a Celery broker on the filesystem, console email). Production is the
same module with ``DEBUG=0`` and the variables documented in ``docs/architecture.md``; with
``DEBUG`` off every security setting is on.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url as parse_redis_url

from config import localdb
from config.redis import redis_namespace, sentinel_addresses, sentinel_broker_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = localdb.VAR_DIR


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The laptop defaults (a dev secret key, local host names, plain http, console email, static
# files straight from the source folders, seed_demo allowed). The variable keeps its old name,
# DEBUG: production sets DEBUG=0, and with it every one of these is off.
DEVELOPMENT = env_bool("DEBUG", default=True)
# Django's own debug pages (a 404 that lists every route, a 500 with the traceback) are a
# separate choice, off unless a developer asks: a newcomer's `make run` shows Hearth's pages.
DEBUG = DEVELOPMENT and env_bool("DEBUG_PAGES", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET_KEY if DEVELOPMENT else "")
if not SECRET_KEY or (not DEVELOPMENT and SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured("Set SECRET_KEY in the environment when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEVELOPMENT else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

SITE_NAME = "Hearth"
# Where links in emails point (emails are sent by workers, which have no request to ask).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_ID = 1

INSTALLED_APPS = [
    "daphne",
    "config.apps.HearthAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "guardian",
    # Our apps, in dependency order: each may use the ones above it, never below
    # (moderation.audit is the one leaf every app may call).
    "accounts",
    "groups",
    "chat",
    "moderation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.page_cache.AnonymousPageCacheMiddleware",
    "moderation.middleware.AuditContextMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "accounts.middleware.EagerAuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.LoginActivityMiddleware",
    "accounts.middleware.LoginPolicyMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "config.middleware.NoStoreForAuthenticatedMiddleware",
]

ROOT_URLCONF = "config.urls"

# The public pages as an anonymous visitor sees them (home, how it works, the directory, a
# group's page) are shared through the cache for this long at most, and forgotten as soon as a
# group, session or enrollment changes (config/page_cache.py). 0 turns the cache off. A cookie
# that changes such a page (the visitor's time zone) must be named here, or the page is not
# shared with anyone who sends it.
PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", 60))
# "tz": the visitor's time zone (accounts.middleware.viewer_time_zone), part of the key.
PAGE_CACHE_VARY_COOKIES: tuple[str, ...] = ("tz",)

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.hearth",
                # The CSRF token, masked with one draw of randomness (after Django's own).
                "config.csrf.csrf",
            ],
            # Faster drop-ins for {% url %} and |date (see config/templatetags/fast.py).
            "builtins": ["config.templatetags.fast"],
            # base.html's header and footer, each made once per distinct content.
            "libraries": {"chrome": "config.templatetags.chrome"},
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------

# PostgreSQL everywhere. With no DATABASE_URL, the server `make run` and `make test` start
# themselves under var/postgres (config/localdb.py); with one, that server instead.
DATABASE_URL = os.environ.get("DATABASE_URL", "") or localdb.database_url()
# CONN_MAX_AGE is 0 because connections come from a pool (below), which Django requires. The
# health check is the pool's: a connection that sat in the pool a second or more is tried (an
# empty query) before it is lent (config/postgresql/base.py), so one the server dropped while it
# sat there never fails a page.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Hearth runs on PostgreSQL: DATABASE_URL must be postgres://...")
# Django's backend, with the pool's health check skipped for a connection that came back to
# the pool less than a second ago (config/postgresql/base.py): one round trip less a request.
DATABASES["default"]["ENGINE"] = "config.postgresql"
# What sits between Hearth and PostgreSQL: nothing (the default), or `pgbouncer` in transaction
# mode, which gives a server connection for one transaction at a time, so nothing that outlives
# a transaction may be used:
# - server-side cursors (QuerySet.iterator()) are declared WITH HOLD outside a transaction and
#   fetched later, maybe from another server connection: Django's DISABLE_SERVER_SIDE_CURSORS
#   makes iterator() read its whole result at once instead;
# - prepared statements: they are turned on below only without PgBouncer; through it, Django's
#   defaults stay (client-side binding, prepare_threshold None: nothing is prepared);
# - startup options: PgBouncer refuses a connection that sends `options`, so JIT is not turned
#   off per connection; turn it off for the database instead (docs/operations.md);
# - session settings: the time zone Django sets is one PgBouncer tracks per client.
# The in-process pool stays: its connections are PgBouncer's cheap client connections, it saves
# a connection's start-up per request, and it still bounds each process's database work.
DATABASE_POOLER = os.environ.get("DATABASE_POOLER", "").strip().lower()
if DATABASE_POOLER not in {"", "pgbouncer"}:
    raise ImproperlyConfigured("DATABASE_POOLER must be empty or pgbouncer.")
DATABASES["default"].setdefault("OPTIONS", {})
if DATABASE_POOLER == "pgbouncer":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
else:
    # PostgreSQL's JIT compiles queries it guesses are expensive; for our short page queries
    # the compiling cost more than the query (measured: 147 ms -> 75 ms a directory request).
    DATABASES["default"]["OPTIONS"]["options"] = "-c jit=off"
    # Prepared statements: the values travel apart from the SQL (server-side binding), and a
    # statement a connection has run five times is prepared, so PostgreSQL stops planning it
    # anew for each request. Planning was most of the database's work on the logged-in pages
    # (the manage page: 1.4 ms planning, 0.2 ms running): measured with the benchmark's load,
    # PostgreSQL's CPU per page fell by 60 to 75 % (docs/performance.md). Not through
    # PgBouncer (above), where a statement prepared on one server connection is not on the next.
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
# The room's own database threads in each server process (chat.db_threads): each keeps one
# connection while its room is busy.
CHAT_DB_THREADS = int(os.environ.get("CHAT_DB_THREADS", 8))
# Pooled connections (psycopg's pool, one per process). Under ASGI, asgiref runs each request
# in a thread made for it, so a connection kept per thread (CONN_MAX_AGE) served one request
# and was thrown away: a new PostgreSQL backend (a fork, about 6 ms) for every page. A
# request now borrows a connection and gives it back when it ends.
# - max_size: what one process may hold at once. The request threads are not a fixed pool
#   (ASGI_THREADS sizes daphne's default executor, which runs no views), so the pool is what
#   bounds the database work of pages: every room thread, Channels' one thread (socket
#   logins) and 11 pages at a time, 20 by default. Keep the sum over every process (web
#   processes x max_size, plus one per Celery worker child) under PostgreSQL's
#   max_connections (100 by default).
# - min_size: none. The pool opens a connection when one is wanted and none is free, and
#   closes the extra ones as traffic falls (max_idle). With one or more, opening the pool
#   races its first borrower and opens a connection more: a Celery prefork child, whose pool
#   lives for one task (Celery closes it around each), opened two per task, not one.
# - timeout: a request waits this long for a connection, then fails (a 500). Long enough for
#   a burst (a page holds one for well under a second), short enough that an overloaded
#   process sheds requests, and an unreachable database fails a page, well before a person
#   or a proxy gives up.
# - max_idle: while the pool had a connection nobody needed for a whole minute, it closes
#   one (one a minute), so a burst's extra connections go back to PostgreSQL in minutes.
DATABASES["default"]["OPTIONS"]["pool"] = {
    "min_size": int(os.environ.get("DATABASE_POOL_MIN", 0)),
    "max_size": int(os.environ.get("DATABASE_POOL_MAX", CHAT_DB_THREADS + 12)),
    "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", 5)),
    "max_idle": 60,
}
if DATABASES["default"]["OPTIONS"]["pool"]["max_size"] <= CHAT_DB_THREADS + 1:
    raise ImproperlyConfigured(
        "DATABASE_POOL_MAX must be more than CHAT_DB_THREADS + 1, or the room's threads and "
        "Channels' can hold every connection and leave pages none."
    )
# The role the running application connects as: rows only, no table of its own, never the
# audit log's UPDATE, DELETE or TRUNCATE (granted after every migrate: config/database.py).
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", localdb.APP_ROLE)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis that fails over: with REDIS_SENTINELS (host:port,host:port) and REDIS_MASTER_NAME, the
# cache, the channel layer, Celery's broker and config.redis's client ask Sentinel which server
# is the primary, and ask again after a failover. REDIS_URL then gives only the database, user
# and password (its host is not used); REDIS_SENTINEL_PASSWORD is the sentinels' own, if any.
REDIS_SENTINEL: dict[str, Any] | None = None
_sentinels = sentinel_addresses(os.environ.get("REDIS_SENTINELS", ""))
_master_name = os.environ.get("REDIS_MASTER_NAME", "")
if _sentinels:
    if not REDIS_URL.startswith("redis://"):
        raise ImproperlyConfigured(
            "With REDIS_SENTINELS, set REDIS_URL to redis://[:password@]primary/<database>: "
            "its database and password are used, and Sentinel says where the primary is."
        )
    if not _master_name:
        raise ImproperlyConfigured("With REDIS_SENTINELS, set REDIS_MASTER_NAME too.")
    _sentinel_kwargs: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5}
    if os.environ.get("REDIS_SENTINEL_PASSWORD"):
        _sentinel_kwargs["password"] = os.environ["REDIS_SENTINEL_PASSWORD"]
    REDIS_SENTINEL = {
        "sentinels": _sentinels,
        "master_name": _master_name,
        "sentinel_kwargs": _sentinel_kwargs,
    }
elif _master_name:
    raise ImproperlyConfigured("REDIS_MASTER_NAME is set but REDIS_SENTINELS is not.")
# The one name in front of everything this deployment puts in Redis: the cache's keys (and
# config.redis's), the channel layer's channels and groups, Celery's queues and channels. Two
# deployments sharing a Redis must differ here, and a database number is not enough (pub/sub
# channels are shared by every database), so the default is derived from this deployment's
# database and SECRET_KEY: its processes agree without being told, and another deployment
# differs (config/redis.py says how, and docs/architecture.md when to set it).
if "CACHE_KEY_PREFIX" in os.environ:
    raise ImproperlyConfigured(
        "CACHE_KEY_PREFIX is now REDIS_NAMESPACE, which names the channel layer and Celery's "
        "keys too: rename it, or unset it for a namespace derived from this deployment."
    )
REDIS_NAMESPACE = redis_namespace(
    os.environ.get("REDIS_NAMESPACE", ""), database=DATABASES["default"], secret_key=SECRET_KEY
)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.redis.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_NAMESPACE,
            "OPTIONS": (
                {"pool_class": "config.redis.SentinelPool", **REDIS_SENTINEL}
                if REDIS_SENTINEL
                else {}
            ),
        }
    }
    # channels_redis, configured for its known limits (see docs/architecture.md, "Live rooms"):
    # - a message to a channel already holding `capacity` messages is dropped (logged at INFO
    #   only); room sockets detect the gap in positions and refill from the database, and a
    #   room of 50 people needs room for bursts, so the capacity is well above the default 100;
    # - redis-py's asyncio pool raises past `max_connections` (default 100), so it is set for
    #   the number of sockets one process holds;
    # - `group_expiry` must outlast the longest connection: 4 h sessions, an hour's lead time
    #   and a 15-minute extension fit well inside one day;
    # - redis-py 8 reads with a 5 s timeout by default, exactly the length of the layer's
    #   blocking pop, so a quiet channel raised TimeoutError and tore every socket down about
    #   every five seconds (channels_redis#422). The blocking pop bounds every wait itself, so
    #   reads have no timeout of their own (a finite one, such as 30 s, also left cancelled
    #   receives hanging at shutdown); connecting still gives up after 5 s.
    _layer_server: dict[str, Any] = {"address": REDIS_URL}
    if REDIS_SENTINEL:
        _primary = parse_redis_url(REDIS_URL)
        _layer_server = {
            **{key: _primary[key] for key in ("db", "username", "password") if key in _primary},
            **REDIS_SENTINEL,
        }
    _layer_host = {
        **_layer_server,
        "max_connections": int(os.environ.get("CHANNEL_LAYER_MAX_CONNECTIONS", 1000)),
        "socket_timeout": None,
        "socket_connect_timeout": 5,
    }
    # RedisPubSubChannelLayer by default, chosen with figures (docs/performance.md, "Live
    # rooms"): a message to a room is published once and each process fans it out to its own
    # sockets, where the list-based RedisChannelLayer pushes one copy per socket into Redis and
    # each process pops them one round trip at a time. Same machine, same run: echo p99 at
    # 50/s 11 ms against 47 ms, and a clean rate four times higher. Its trade-offs: nothing is
    # queued for a process that is not listening (a reconnecting process misses what was
    # published meanwhile; sockets refill messages from the database by position, and
    # re-check their right and the room's end by themselves), and no capacity or expiry to
    # tune. CHANNEL_LAYER=core selects RedisChannelLayer.
    if os.environ.get("CHANNEL_LAYER", "pubsub") == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                # channels_redis' pub/sub layer, made to ride out a Redis outage (chat/layer.py).
                "BACKEND": "chat.layer.ResilientPubSubChannelLayer",
                "CONFIG": {"hosts": [_layer_host], "prefix": f"{REDIS_NAMESPACE}."},
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [_layer_host],
                    "prefix": f"{REDIS_NAMESPACE}.",
                    "capacity": 1000,
                    "expiry": 60,
                    "group_expiry": 24 * 60 * 60,
                },
            }
        }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery --------------------------------------------------------------------------------------

if REDIS_URL:
    CELERY_BROKER_URL = (
        sentinel_broker_url(REDIS_URL, REDIS_SENTINEL["sentinels"]) if REDIS_SENTINEL else REDIS_URL
    )
    # kombu puts this in front of every key and pub/sub channel it uses: the queues (so the
    # default queue keeps its name, `celery`, and workers need no -Q), the exchange bindings,
    # the unacked messages and their restore lock, and the control and event channels that
    # `celery inspect` and workers' gossip use.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"global_keyprefix": f"{REDIS_NAMESPACE}:"}
    if REDIS_SENTINEL:
        CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS_SENTINEL["master_name"]
        CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"] = REDIS_SENTINEL["sentinel_kwargs"]
else:
    # A broker that needs no server: messages are files under var/celery.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "celery" / "queue"),
        "data_folder_out": str(VAR_DIR / "celery" / "queue"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
    (VAR_DIR / "celery" / "queue").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "control").mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
# What a task prints (the console email backend on a laptop) is output, not a warning.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "accounts.purge_expired_sessions": {
        "task": "accounts.tasks.purge_expired_sessions",
        "schedule": timedelta(hours=1),
    },
    "moderation.purge_transcripts": {
        "task": "moderation.tasks.purge_transcripts",
        "schedule": timedelta(days=1),
    },
    "groups.send_due_reminders": {
        "task": "groups.tasks.send_due_reminders",
        "schedule": timedelta(minutes=1),
    },
    "groups.announce_opening_rooms": {
        "task": "groups.tasks.announce_opening_rooms",
        "schedule": timedelta(minutes=1),
    },
    "groups.advance_next_sessions": {
        "task": "groups.tasks.advance_next_sessions",
        "schedule": timedelta(minutes=1),
    },
    "chat.close_ended_sessions": {
        "task": "chat.tasks.close_ended_sessions",
        "schedule": timedelta(minutes=1),
    },
    "moderation.expire_sanctions": {
        "task": "moderation.tasks.expire_sanctions",
        "schedule": timedelta(minutes=1),
    },
}

# Reminders the sweep claims, sends and marks per transaction. Exactly once holds for any size
# (a ledger in the cache remembers each accepted email until the commit; groups/reminders.py).
REMINDER_SEND_BATCH = int(os.environ.get("REMINDER_SEND_BATCH", 100))

# --- Accounts and authentication ----------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# The login email is unique ignoring case through a database constraint (and allauth's
# EmailAddress table), which Django's plain unique check cannot see.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
# accounts.backends is allauth's backend (itself Django's ModelBackend) loading the logged-in
# person, their privileges, second factor and guidelines standing in one query. A login names
# the backend that made it, so logins made under the former list end once when this changes.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
# allauth's default, kept on purpose: a password reset for an address with no account sends an
# email too ("there is no account here"), so both take the same work and time.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Hearth] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEVELOPMENT else "https"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
# allauth's rate limits use the default cache: Redis whenever REDIS_URL is set.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "5/5m/ip,5/5m/key",
    "signup": "20/h/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME
USERSESSIONS_TRACK_ACTIVITY = True

# Per-object rights (django-guardian). Anonymous users hold no object rights, so no
# anonymous user row is needed; superusers are never given implicit object rights.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False

# --- Sessions and cookies ------------------------------------------------------------------------

# Idle timeout: a login ends SESSION_COOKIE_AGE seconds after its last recorded activity.
# Activity is recorded (the session saved with a fresh expiry, and allauth's "last seen")
# at most once a minute by accounts.middleware.LoginActivityMiddleware, not on every request.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", 30 * 60))
SESSION_ACTIVITY_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Absolute timeout: however active, a login lasts at most this long.
SESSION_ABSOLUTE_SECONDS = int(os.environ.get("SESSION_ABSOLUTE_SECONDS", 12 * 60 * 60))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Logins live in PostgreSQL, read by a baked query (accounts/session_store.py): ending one
# takes effect at once in every process, with or without Redis. Whatever ends a login goes
# through the session store (accounts.sessions.logins_end).
SESSION_ENGINE = "accounts.session_store"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEVELOPMENT:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Strict Content-Security-Policy: no inline script or style anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# --- Live rooms ----------------------------------------------------------------------------------

# A burst of this many messages per window, per person and room (counted in the cache).
CHAT_RATE_LIMIT_BURST = int(os.environ.get("CHAT_RATE_LIMIT_BURST", 5))
CHAT_RATE_LIMIT_WINDOW_SECONDS = int(os.environ.get("CHAT_RATE_LIMIT_WINDOW_SECONDS", 10))

# --- Email ---------------------------------------------------------------------------------------

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEVELOPMENT
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
# A mail server that stops answering must not hold a sweep (and the rows it has locked) until
# the task's hard time limit: give up on it after this many seconds and retry on the next run.
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", 30))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Hearth <no-reply@hearth.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation ------------------------------------------------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEVELOPMENT
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# On a laptop, files are served from the source folders as they are edited, without
# collectstatic (whitenoise would otherwise take these from Django's DEBUG).
WHITENOISE_USE_FINDERS = DEVELOPMENT
WHITENOISE_AUTOREFRESH = DEVELOPMENT
WHITENOISE_MAX_AGE = 0 if DEVELOPMENT else 60

# --- Metrics ------------------------------------------------------------------------------------

# /metrics (Prometheus' text format) answers only requests from these networks (comma-separated
# CIDRs; by default this host only) or carrying `Authorization: Bearer <METRICS_TOKEN>`; anyone
# else gets a 404, as if it did not exist. Behind a load balancer every request comes from the
# balancer's address: scrape each process on its own address and never allow the balancer's.
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False)
        for item in env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {error}") from error
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters when set.")

# --- Logging: ids, never message text ------------------------------------------------------------

# LOG_FORMAT=json writes one JSON object per line (time, level, logger, message, and the ids a
# call passes in `extra`) for a log collector: config/logformat.py. Celery's worker and beat
# format their own handlers; config/celery.py turns those to JSON too.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or "plain"
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # psycopg's pool logs every connection lent and returned at INFO; its warnings (a broken
    # connection discarded) stay.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "psycopg.pool": {"level": "WARNING"}},
}

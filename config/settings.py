"""Settings, read from environment variables (see docs/operations.md, "Configuration").

Defaults are for a developer's machine: SQLite and a file-system Celery broker under var/,
media on the local disk. Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY,
ALLOWED_HOSTS and, for shared storage, STORAGE_BACKEND.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# PRODUCTION=1 turns on the HTTPS-only settings and refuses to start without a SECRET_KEY.
PRODUCTION = env_bool("PRODUCTION", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION=1")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-set-SECRET_KEY"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "core",
    "registry",
    "followup",
    "scoring",
    "analytics",
    "demo",
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
    "csp.middleware.CSPMiddleware",
    "registry.cache_control.NoStoreMiddleware",
    "registry.busy.BusyMiddleware",  # a write that cannot get the database lock: 503, not 500
    # Every page needs a signed-in user. Views marked login_not_required step aside: sign-in, the
    # health probe, and every DRF view (DRF marks them), which authenticates and answers 401 itself.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in on the login page into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "core.roles.roles_context",
            ],
        },
    },
]

# Database: DATABASE_URL, else SQLite under var/ in WAL mode so that the web server and the
# Celery worker can write side by side (IMMEDIATE transactions avoid "database is locked"
# upgrades from read to write locks). One writer at a time: a write waits up to `timeout`
# seconds for the lock (SQLite's busy timeout), then is answered 503 (registry.busy). Threads of
# one process take turns to write (config.sqlite_backend); imports hold the lock only briefly
# (registry.importer, "The write lock").
_SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "config.sqlite_backend",
            "NAME": _SQLITE_PATH,  # type: ignore[typeddict-item]  # Django takes a Path here; the stubs say str
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": env_float("SQLITE_BUSY_TIMEOUT_SECONDS", 20.0),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failed sign-ins from one address, or
# for one username from anywhere, sign-in is refused for AXES_COOLOFF_MINUTES, even with the right
# password, on the login page and at /api/auth/token/. A failure counts while the previous one is
# less than the cool-off old; refused attempts during a lockout do not prolong it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out sign-ins before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "registry.lockout.lockout_response"
# Behind a reverse proxy (BEHIND_PROXY=1) REMOTE_ADDR is the proxy's: take the client's address
# from the X-Forwarded-For entry the proxy appended, else all users would share one address.
AXES_CLIENT_IP_CALLABLE = "registry.lockout.client_ip_address"

# API tokens (core.tokens): a token older than this is refused (401); obtain a new one.
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 30)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

# Files go through Django's storage API. STORAGE_BACKEND=s3 uses django-storages (install it
# and set AWS_* variables); the default keeps files on the local disk under MEDIA_ROOT.
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")
if STORAGE_BACKEND == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif STORAGE_BACKEND == "s3":
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3'; got {STORAGE_BACKEND!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# E-mail (password reset): printed to the console by default; EMAIL_HOST (and EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS) switches to SMTP.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_str("EMAIL_USE_TLS", "1") == "1"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "IVUS-calcium registry <registry@localhost>")

# Django's cache: counts of guessed follow-up links (followup.public_views). The default is each
# process's memory; with several web processes set CACHE_URL=redis://host:6379/1 so that they
# count together.
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# The patient's online questionnaire: unknown links allowed per client address in the window.
FOLLOWUP_LINK_GUESS_LIMIT = env_int("FOLLOWUP_LINK_GUESS_LIMIT", 20)
FOLLOWUP_LINK_GUESS_WINDOW_SECONDS = env_int("FOLLOWUP_LINK_GUESS_WINDOW_SECONDS", 600)

# Celery. The default broker is kombu's file-system transport under var/: no server needed.
# Production: CELERY_BROKER_URL=redis://host:6379/0 (or amqp://...).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_BROKER_DIR = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL.startswith("filesystem"):
    for _sub in ("queue", "processed", "control"):
        (_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Background jobs (core.jobs): a running job beats every JOB_HEARTBEAT_SECONDS; one whose beat
# stopped for JOB_STALE_AFTER_SECONDS (its worker died) is queued again, at most JOB_MAX_ATTEMPTS
# times. Keep the stale time well above the longest single database transaction of a job.
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 10.0)
JOB_STALE_AFTER_SECONDS = env_float("JOB_STALE_AFTER_SECONDS", 120.0)
JOB_REAPER_INTERVAL_SECONDS = env_float("JOB_REAPER_INTERVAL_SECONDS", 30.0)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)

REST_FRAMEWORK = {
    # Token first, as in core.api.ApiView: a missing, bad or expired token is a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "registry.busy.api_exception_handler",  # busy database: 503 + Retry-After
    # JSON nested at most 64 deep and numbers a float can hold: a hostile body is a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "core.api_parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IVUS-calcium registry API",
    "DESCRIPTION": "Patients, follow-up and events of the IVUS-calcium registry.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["core.api.AnyRole"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Registry rules that a study may want to tune.
FOLLOW_UP_OVERDUE_DAYS = env_int("FOLLOW_UP_OVERDUE_DAYS", 365)
FOLLOW_UP_LOST_DAYS = env_int("FOLLOW_UP_LOST_DAYS", 730)
FOLLOW_UP_HORIZON_DAYS = env_int("FOLLOW_UP_HORIZON_DAYS", 2191)
DEFAULT_SITE_CODE = env_str("DEFAULT_SITE_CODE", "MAIN")  # site of imported patients without a site column
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
# Analyses of at most this many patients (in the user's scope) run in the request; larger ones in a worker.
ANALYSIS_SYNC_MAX_PATIENTS = env_int("ANALYSIS_SYNC_MAX_PATIENTS", 2000)
# Follow-up letters (followup.letters): the address patients type or scan to answer online (the
# link is <base>/q/<token>/; no "/" at the end), and where paper questionnaires go back to (one
# line per line of the envelope; "\n" in the variable also starts a new line).
FOLLOWUP_PUBLIC_BASE_URL = env_str("FOLLOWUP_PUBLIC_BASE_URL", "http://127.0.0.1:8000").strip().rstrip("/")
if not FOLLOWUP_PUBLIC_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        f"FOLLOWUP_PUBLIC_BASE_URL must start with https:// or http://; got {FOLLOWUP_PUBLIC_BASE_URL!r}"
    )
FOLLOWUP_RETURN_ADDRESS = env_str(
    "FOLLOWUP_RETURN_ADDRESS", "IVUS-calcium registry\nFollow-up office\n(set FOLLOWUP_RETURN_ADDRESS)"
).replace("\\n", "\n")

# IVUS pullbacks (scoring/): upload limit per file, uploads above this size go to a temporary
# file (never into memory), and the pullback speed assumed when a file does not record one.
PULLBACK_MAX_UPLOAD_BYTES = env_int("PULLBACK_MAX_UPLOAD_BYTES", 4 * 1024**3)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
PULLBACK_ASSUMED_SPEED_MM_S = env_float("PULLBACK_ASSUMED_SPEED_MM_S", 0.5)
PULLBACK_MIN_LENGTH_MM = env_float("PULLBACK_MIN_LENGTH_MM", 40.0)
# Where detector models are loaded from by name (empty: scoring/detector/weights/ in the code).
SCORING_MODEL_STORE = env_str("SCORING_MODEL_STORE", "")

# Security headers; HTTPS-only settings follow SECURE_SSL (on in production behind TLS).
SECURE_SSL = env_bool("SECURE_SSL", PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
# BEHIND_PROXY=1: a reverse proxy sets X-Forwarded-Proto and appends the client to X-Forwarded-For.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)

# Content-Security-Policy (django-csp) on every response: scripts only from our own static files,
# so an injected <script> or on*= attribute does not run. Pages pass data to their scripts with
# json_script (type application/json, never executed). style-src allows 'unsafe-inline' because
# plotly.js (static/vendor) adds <style> elements and style attributes as it draws (checked in
# Chromium: without it the browser blocks them) and the API docs page (drf-spectacular) has an
# inline <style>. Inline styles cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

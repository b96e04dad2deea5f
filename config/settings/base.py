"""Settings shared by every environment; every switch is read from the environment."""

from datetime import timedelta

from corsheaders.defaults import default_headers as cors_default_headers

from config.env import BASE_DIR, env

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-insecure-secret-key-change-me-0123456789abcdef")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    # third party
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_prometheus",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "djstripe",
    # ours
    "core",
    "accounts",
    "audit",
    "notifications",
    "documents",
    "organizations",
    "permissions",
    "billing",
    "integrations",
    "messaging",
    "ai",
    "premium",
    "internal",
    "scim",
    "sso",
]

MIDDLEWARE = [
    "core.middleware.RequestIDMiddleware",
    "core.middleware.OptionalTrailingSlashMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (admin and API docs are the HTML ones).
    "csp.middleware.CSPMiddleware",
    # Serves collected static files (admin, Swagger UI, ReDoc) from the app server itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE → 413, JSON nested too deep → 400, before any view
    # (after CORS, so a browser can read the refusal).
    "core.middleware.RequestBodyGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "core.middleware.RateLimitHeadersMiddleware",
    # Database down while opening the request transaction: 503 in the envelope, not a 500.
    "core.middleware.DatabaseUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
SITE_ID = 1

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

# Database: SQLite unless DATABASE_URL names another one (postgres://user@host:5432/name).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
# 0 by default: under ASGI (the WebSocket server) each request runs on a thread of its own, so a
# connection kept open after it is never reused and PostgreSQL runs out of connections.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
# Connections per process kept by psycopg's pool (PostgreSQL only; 0 = no pool, a new connection
# per request). Keep workers × this under PostgreSQL's max_connections.
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
# Fail fast on a database outage (docs/operations.md "Degrading under faults").
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=2)
DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=1.0)
# Seconds between the pool's reconnection attempts after PostgreSQL went away (psycopg_pool's own:
# 1 s, 2 s, 4 s ...), so a database that returns is used within it (core/dbpool.py).
DATABASE_POOL_RECONNECT_SECONDS = env.float("DATABASE_POOL_RECONNECT_SECONDS", default=0.25)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # django_prometheus's backend (/metrics counts queries per database) with the pool's fast-fail:
    # while the pool knows PostgreSQL is away, a request answers 503 at once (core/db/postgresql).
    DATABASES["default"]["ENGINE"] = "core.db.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASE_POOL_MAX_SIZE:
        # The pool replaces persistent connections (Django refuses both at once).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            # A fixed size, filled before a worker serves (core/dbpool.py pool_fill): a pool that
            # grows one connection at a time kept a fresh worker's first burst waiting (503s).
            "min_size": DATABASE_POOL_MAX_SIZE,
            "max_size": DATABASE_POOL_MAX_SIZE,
            # Seconds a request waits for a pooled connection: with PostgreSQL down, the pool
            # has none to give, and the request answers 503 after this instead of hanging.
            "timeout": DATABASE_POOL_TIMEOUT,
        }
    # Seconds: an unreachable server fails requests and /health/ready fast instead of hanging
    # (libpq and psycopg round anything under 2 up to 2).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis when REDIS_URL is set, else process-local memory.
REDIS_URL = env("REDIS_URL", default="")
# Seconds the Redis cache is skipped after a connection failure (core/cache.py).
CACHE_BREAKER_SECONDS = env.float("CACHE_BREAKER_SECONDS", default=5.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # DefaultClient behind a circuit breaker: after a connection failure Redis is
                # skipped for CACHE_BREAKER_SECONDS instead of costing a connect per call.
                "CLIENT_CLASS": "core.cache.CircuitBreakerClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                # Redis down: reads miss and writes are dropped instead of raising, so requests
                # keep being served. Session checks then read the database (revocations hold),
                # throttles fail open, /health/ready reports the cache as failing.
                "IGNORE_EXCEPTIONS": True,
            },
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="saas"),
        }
    }
    # Not a traceback per ignored error: the breaker logs one warning per interval instead.
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "saas-default",
        }
    }

# --- Messaging (messaging app): WebSockets through Django Channels ---------------------------
# The channel layer carries live events between processes: Redis when CHANNELS_REDIS_URL (default:
# REDIS_URL) is set, so every server process shares the groups; in-process memory otherwise
# (one process: `make run`). Served by uvicorn (ASGI), see config/asgi.py.
# `or`: an empty CHANNELS_REDIS_URL (as compose passes when unset) falls back to REDIS_URL too.
CHANNELS_REDIS_URL = env("CHANNELS_REDIS_URL", default="") or REDIS_URL
if CHANNELS_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [CHANNELS_REDIS_URL], "prefix": env("CACHE_KEY_PREFIX", default="saas") + ":asgi"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# --- end Messaging ------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses locked-out credentials before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name", "first_name", "last_name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
# Uploaded documents: hard cap per file, whatever the plan's storage allows. Files go to
# STORAGES["default"]; point it at storages.backends.s3.S3Storage (django-storages) for S3.
DOCUMENT_MAX_UPLOAD_MB = env.int("DOCUMENT_MAX_UPLOAD_MB", default=25)

# Front end: links in emails and OAuth redirects point here.
FRONTEND_URL = env("FRONTEND_URL", default="http://localhost:3000").rstrip("/")
INVITE_EXPIRY_DAYS = env.int("INVITE_EXPIRY_DAYS", default=7)
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# The request headers of the contract a browser client sends cross-origin (the org context ones
# and a caller-chosen request id) on top of django-cors-headers' defaults.
CORS_ALLOW_HEADERS = (*cors_default_headers, "x-org-id", "x-current-org", "x-request-id")
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "X-Conversation-ID",
]

# Email: Django's mail API; EMAIL_URL (smtp://user:pass@host:587) wins over EMAIL_BACKEND.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="no-reply@localhost")
EMAIL_URL = env("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url_config(EMAIL_URL))
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent_emails"))

# Celery: eager (in-process) unless a broker is configured.
# No broker configured: kombu's in-process transport. Eager Celery still takes a producer to
# round-trip task arguments; "memory://" without a host makes kombu warn on each one.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not (REDIS_URL or env("CELERY_BROKER_URL", default="")))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Workers log through LOGGING below (JSON lines in prod) instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Days audit events are kept when the plan sets no `audit_retention_days` (billing absent).
AUDIT_RETENTION_DAYS_DEFAULT = 90
CELERY_BEAT_SCHEDULE = {
    # Tasks kept in the outbox while the broker was down (core/tasks.py) are sent again.
    "core-outbox-flush": {
        "task": "core.tasks.outbox_flush",
        "schedule": 60,
    },
    "accounts-prune-expired": {
        "task": "accounts.tasks.prune_expired_credentials",
        "schedule": 60 * 60,
    },
    "audit-prune-expired": {
        "task": "audit.tasks.prune_expired_events",
        "schedule": 60 * 60 * 24,
    },
    "billing-expire-manual-subscriptions": {
        "task": "billing.tasks.expire_manual_subscriptions",
        "schedule": 60 * 60,
    },
    "integrations-refresh-due": {
        "task": "integrations.tasks.refresh_due_integrations",
        "schedule": 60 * 30,
    },
    "billing-retry-stripe-events": {
        "task": "billing.tasks.retry_stripe_events",
        "schedule": 60 * 15,
    },
    "billing-retry-razorpay-events": {
        "task": "billing.tasks.retry_razorpay_events",
        "schedule": 60 * 15,
    },
}

# REST framework: one error envelope, page/limit pagination, throttles with headers.
THROTTLE_USER = env("THROTTLE_USER", default="60/min")
THROTTLE_ANON = env("THROTTLE_ANON", default="10/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "permissions.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser with a nesting limit (core/parsers.py): deep JSON is a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageLimitPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.UserRateThrottle",
        "core.throttling.AnonRateThrottle",
        "core.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": THROTTLE_USER,
        "anon": THROTTLE_ANON,
        "login": env("THROTTLE_LOGIN", default="10/min"),
        "password_reset": env("THROTTLE_PASSWORD_RESET", default="5/min"),
        "mfa": env("THROTTLE_MFA", default="10/min"),
        # Per calling service on /internal/v1/ (internal.authentication.ServiceRateThrottle).
        "internal": env("THROTTLE_INTERNAL", default="6000/min"),
    },
    "EXCEPTION_HANDLER": "core.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.OrgAutoSchema",
    # `format` is a real query parameter on some endpoints (audit export).
    "URL_FORMAT_OVERRIDE": None,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# /metrics: with a token, only `Authorization: Bearer <token>` gets them; empty here = open (development).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Product services allowed on /internal/v1/ (docs/internal-api.md): `name=secret,...`; split on
# the first `=` only, so a secret may contain `=` (base64 padding). Empty: no service is accepted.
INTERNAL_SERVICE_KEYS = {
    name.strip(): secret.strip()
    for name, _, secret in (item.partition("=") for item in env("INTERNAL_SERVICE_KEYS", default="").split(","))
    if name.strip() and secret.strip()
}
# Mounts /api/v1/bench/ceiling (core/bench.py), the reference of `make bench`. prod.py forces it off.
BENCH_CEILING = env.bool("BENCH_CEILING", default=False)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    # EdDSA (Ed25519) or RS256: keys are rows, published at /.well-known/jwks.json (accounts/signing_keys.py).
    # HS256: the single-service mode, one shared secret (JWT_SIGNING_KEY), nothing published.
    "ALGORITHM": env("JWT_ALGORITHM", default="") or "EdDSA",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    # Every token's `iss`, and the issuer of /.well-known/openid-configuration: the API's public origin.
    "ISSUER": (env("JWT_ISSUER", default="") or "http://localhost:8000").rstrip("/"),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}
IMPERSONATION_MINUTES = 30
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="SaaS Platform")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
MFA_CHALLENGE_SECONDS = 300
EMAIL_VERIFY_TOKEN_HOURS = 48
PASSWORD_RESET_TOKEN_MINUTES = 60

SPECTACULAR_SETTINGS = {
    "TITLE": "SaaS Platform API",
    "DESCRIPTION": "Multi-tenant SaaS back end: auth, organizations, roles, billing, integrations, audit.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    "ENUM_NAME_OVERRIDES": {
        "IntegrationTypeEnum": "integrations.models.Integration.Type",
        "IntegrationStatusEnum": "integrations.models.Integration.Status",
        "MembershipStatusEnum": "organizations.models.Membership.Status",
        "AuditActorTypeEnum": "audit.models.AuditEvent.ActorType",
        # internal/v1 usage `feature` (metered keys) beside check-limit's `feature` (every usage key).
        "MeteredFeatureEnum": "internal.selectors.METERED_FEATURES",
        "UsageKeyEnum": "billing.catalog.USAGE_LIMITS",
        "MfaMethodTypeEnum": "accounts.mfa.METHOD_TYPES",
        # Billing `provider`: a subscription's (stripe|manual|razorpay) beside a payment's (stripe|razorpay).
        "SubscriptionProviderEnum": "billing.models.Subscription.Provider",
        "PaymentProviderEnum": "billing.models.Payment.Provider",
    },
    # The error envelope and the statuses any operation can answer (401, 429, 400, 404) are
    # documented once, for every operation (the fuzz test checks responses against them).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.postprocess_error_responses",
    ],
}

# Brute-force protection (django-axes): the account and the IP are each locked after
# AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_FORM_FIELD = "email"
# The API posts `email`, the admin login form `username`: lock on whichever was given.
AXES_USERNAME_CALLABLE = "accounts.authentication.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_SENSITIVE_PARAMETERS = ["password", "mfa_token", "code"]
AXES_VERBOSE = False
# No AxesMiddleware: the API answers lockouts itself with the 429 envelope, and the admin
# login simply keeps refusing credentials while locked.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]  # "AxesMiddleware missing": deliberate, see above
# The one client-IP function (X-Forwarded-For trusted for NUM_PROXIES hops only): a client that
# rotates a forged X-Forwarded-For is still one IP to the lockout, and cannot lock out another's.
AXES_CLIENT_IP_CALLABLE = "core.http.client_ip"

# django-allauth: used for Google sign-in only; our API issues the tokens.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "accounts.oauth.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.oauth.SocialAccountAdapter"
SOCIALACCOUNT_LOGIN_ON_GET = True
SOCIALACCOUNT_STORE_TOKENS = False
# Matching a Google sign-in to an existing account by email is done by our adapter
# (accounts/oauth.py): only when both Google and we have verified that email.
# SESSION_COOKIE_SAMESITE must stay "Lax": the OAuth state lives in the session cookie.
SOCIALACCOUNT_PROVIDERS = {
    "google": {
        "APP": {
            "client_id": env("GOOGLE_CLIENT_ID", default=""),
            "secret": env("GOOGLE_CLIENT_SECRET", default=""),
        },
        "SCOPE": ["openid", "email", "profile"],
        "AUTH_PARAMS": {"access_type": "online"},
        "OAUTH_PKCE_ENABLED": True,
        "FETCH_USERINFO": True,
    }
}

# Stripe and integrations are configured here so deployers have one list of names.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# --- Billing (billing app + dj-stripe) ----------------------------------------------------
# Live mode follows the key, so the mode and the key can never disagree (False without a key).
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
# Our endpoint (/api/v1/billing/webhooks/stripe) verifies with STRIPE_WEBHOOK_SECRET; dj-stripe's
# own webhook view is not mounted, this only keeps its system check informed.
DJSTRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
# Organizations, not users, are billed (billing.Subscription maps org <-> Stripe customer): never
# attach a Stripe customer to a user because of its metadata.
DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY = ""
# Razorpay, the second provider (official `razorpay` SDK): API key pair, webhook secret, and the
# API base (only to point the SDK at a fake or a proxy; Razorpay's own by default).
RAZORPAY_KEY_ID = env("RAZORPAY_KEY_ID", default="")
RAZORPAY_KEY_SECRET = env("RAZORPAY_KEY_SECRET", default="")
RAZORPAY_WEBHOOK_SECRET = env("RAZORPAY_WEBHOOK_SECRET", default="")
RAZORPAY_API_BASE = env("RAZORPAY_API_BASE", default="https://api.razorpay.com")
# --- end Billing ----------------------------------------------------------------------------
# --- Integrations (integrations app) -----------------------------------------------------------
# Fernet keys, newest first: the first wraps new data keys, the others still unwrap old ones.
INTEGRATIONS_MASTER_KEYS = env.list("INTEGRATIONS_MASTER_KEYS", default=[])
INTEGRATIONS_GOOGLE_CLIENT_ID = env("INTEGRATIONS_GOOGLE_CLIENT_ID", default="")
INTEGRATIONS_GOOGLE_CLIENT_SECRET = env("INTEGRATIONS_GOOGLE_CLIENT_SECRET", default="")
INTEGRATIONS_SLACK_CLIENT_ID = env("INTEGRATIONS_SLACK_CLIENT_ID", default="")
INTEGRATIONS_SLACK_CLIENT_SECRET = env("INTEGRATIONS_SLACK_CLIENT_SECRET", default="")
INTEGRATIONS_GITHUB_CLIENT_ID = env("INTEGRATIONS_GITHUB_CLIENT_ID", default="")
INTEGRATIONS_GITHUB_CLIENT_SECRET = env("INTEGRATIONS_GITHUB_CLIENT_SECRET", default="")
# Where providers send the browser back; "{key}" is replaced by the provider key. Empty: our own
# GET /api/v1/integrations/oauth/{key}/callback on the host the flow was started from.
INTEGRATIONS_OAUTH_REDIRECT_URI = env("INTEGRATIONS_OAUTH_REDIRECT_URI", default="")
INTEGRATIONS_HTTP_TIMEOUT_SECONDS = env.float("INTEGRATIONS_HTTP_TIMEOUT_SECONDS", default=10.0)
INTEGRATIONS_REFRESH_MAX_RETRIES = env.int("INTEGRATIONS_REFRESH_MAX_RETRIES", default=5)
INTEGRATIONS_REFRESH_BACKOFF_SECONDS = env.int("INTEGRATIONS_REFRESH_BACKOFF_SECONDS", default=30)
# Per-provider endpoint overrides (not from the environment): {"github": {"token_url": ...}}.
INTEGRATIONS_PROVIDER_OVERRIDES: dict = {}
# --- end Integrations ------------------------------------------------------------------------
# --- AI chat (ai app): any OpenAI-compatible endpoint (OpenAI, Gemini, Ollama, vLLM) ----------
# AI_BASE_URL ends before /chat/completions (e.g. https://api.openai.com/v1); empty = AI off (503).
AI_BASE_URL = env("AI_BASE_URL", default="")
AI_API_KEY = env("AI_API_KEY", default="")
AI_MODEL = env("AI_MODEL", default="")
AI_MODELS = env.list("AI_MODELS", default=[])
AI_TIMEOUT_SECONDS = env.float("AI_TIMEOUT_SECONDS", default=60.0)
# --- end AI chat ----------------------------------------------------------------------------
API_KEY_ROTATION_GRACE_HOURS = env.int("API_KEY_ROTATION_GRACE_HOURS", default=24)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# django-csp (Django 5.2 has no CSP of its own). Scripts only from our own static files: the
# admin has no inline script, Swagger UI is served split (its init script is a URL) and ReDoc
# needs no inline script. Inline styles stay allowed: Swagger UI and ReDoc set them at run time;
# both draw data: images. ReDoc's page alone adds its blob: search worker and its logo's CDN
# (core.views.REDOC_CSP).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logging.RequestIDFilter"},
        # Credentials in URLs (`/ws?token=...`) never reach a log line (core/apps.py also puts it
        # on the servers' access loggers, which do not propagate here).
        "redact_secrets": {"()": "core.logging.SecretRedactionFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact_secrets"],
            "formatter": "json" if LOG_JSON else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Our exception handler logs server errors once, with the request id.
        "django.request": {"level": "ERROR"},
    },
}

# --- Issue 18: passkeys ---------------------------------------------------------------------------
# WebAuthn through django-otp-webauthn (accounts/passkeys.py). The RP id is the registrable domain
# the passkeys are scoped to (e.g. example.com); every page that runs a ceremony must be served from
# one of the allowed origins (scheme://host[:port], https except localhost). Changing the RP id
# orphans every registered passkey.
# `or`: an empty value (as compose passes when unset) means the default.
OTP_WEBAUTHN_RP_ID = env("PASSKEY_RP_ID", default="") or FRONTEND_URL.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0] or "localhost"
OTP_WEBAUTHN_RP_NAME = env("PASSKEY_RP_NAME", default="") or OTP_TOTP_ISSUER
OTP_WEBAUTHN_ALLOWED_ORIGINS = env.list("PASSKEY_ALLOWED_ORIGINS", default=[]) or [FRONTEND_URL, "http://localhost:8000"]
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = True
OTP_WEBAUTHN_HELPER_CLASS = "accounts.passkeys.PasskeyHelper"
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = "accounts.passkeys"
# Seconds a begun ceremony (its challenge) stays usable.
OTP_WEBAUTHN_TIMEOUT_SECONDS = env.int("PASSKEY_TIMEOUT_SECONDS", default=300)
# Staff admin sign-in and staff powers need a session whose second factor was a passkey.
STAFF_REQUIRE_PASSKEY = env.bool("STAFF_REQUIRE_PASSKEY", default=False)
# --- end passkeys ---------------------------------------------------------------------------------

# --- Issue 18: signing keys ---
if SIMPLE_JWT["ALGORITHM"] not in ("EdDSA", "RS256", "HS256"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"JWT_ALGORITHM must be EdDSA, RS256 or HS256, not {SIMPLE_JWT['ALGORITHM']!r}.")
# Fernet keys (or any long secrets), newest first, that seal the private halves of the JWT signing
# keys; all of them open. Default: INTEGRATIONS_MASTER_KEYS (each stretched into a key of its own
# for this purpose), else DJANGO_SECRET_KEY.
JWT_KEY_ENCRYPTION_KEYS = env.list("JWT_KEY_ENCRYPTION_KEYS", default=[]) or INTEGRATIONS_MASTER_KEYS
# How long a process keeps the signing keys before it looks again (a rotation made elsewhere is
# also seen as soon as a token names a kid this process does not know).
JWT_KEYS_CACHE_SECONDS = env.int("JWT_KEYS_CACHE_SECONDS", default=300)

# --- Issue 18: SSO ---
# Per-org SSO connections (sso app) run through allauth's openid_connect and saml providers; the sso
# adapters extend accounts.oauth's (they only add what SSO sign-ins need).
ACCOUNT_ADAPTER = "sso.signin.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "sso.signin.SocialAccountAdapter"
# Let connections point at an IdP over http or on a private/loopback address (development, tests).
# Off in production: issuer and metadata URLs are fetched server-side (SSRF).
SSO_ALLOW_LOCAL_IDP = env.bool("SSO_ALLOW_LOCAL_IDP", default=False)
# Public origin of this API (https://api.example.com) for the URLs given to IdPs (OIDC redirect URI,
# SAML entity id / ACS / metadata); empty: the request's own host.
SSO_SP_BASE_URL = env("SSO_SP_BASE_URL", default="").rstrip("/")
# --- end SSO ---

# --- Issue 18: SCIM ---
# SCIM 2.0 provisioning (scim app, /scim/v2/<org_id>/): requests per org token, and failed token
# checks per client IP (core.throttling's fixed windows).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["scim"] = env("THROTTLE_SCIM", default="600/min")
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["scim_auth"] = env("THROTTLE_SCIM_AUTH", default="30/min")
# --- end SCIM ---

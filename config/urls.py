"""URL map: the versioned API under /api/v1/, docs, health, metrics and the staff admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from accounts.api import urls as accounts_urls
from core import views as core_views
from core.http import API_NOT_FOUND
from organizations.api import urls as organizations_urls
from sso.api import urls as sso_urls

admin.site.site_header = "SaaS Platform staff"
admin.site.site_title = "SaaS Platform staff"
admin.site.index_title = "Staff panel"

# Every app's org resources, mounted once under /orgs/<org_id>/ (below). Their URL names share the
# `orgs` namespace (`orgs:members`, `orgs:api-keys`, `orgs:audit-logs`...): an app whose routes
# live under /orgs/<org_id>/ adds its module here, never to another app's URL module.
org_resources = [
    path("", include(organizations_urls.org_urlpatterns)),
    path("", include("organizations.api.invite_urls")),
    path("", include("permissions.api.urls")),
    path("", include("permissions.api.apikey_urls")),
    path("", include("audit.api.urls")),
    path("", include("documents.api.urls")),
    path("", include("scim.api.urls")),
    path("", include("sso.api.urls")),
]
orgs = [
    *organizations_urls.urlpatterns,  # /orgs and /orgs/<org_id>
    path("orgs/<uuid:org_id>/", include(org_resources)),
]

api_v1 = [
    path("auth/", include((accounts_urls.auth_urlpatterns + organizations_urls.auth_urlpatterns + sso_urls.auth_urlpatterns, "auth"))),
    path("", include((orgs, "orgs"))),
    path("invites/", include(("organizations.api.public_invite_urls", "invites"))),
    path("users/", include((accounts_urls.users_urlpatterns, "users"))),
    path("staff/", include((accounts_urls.staff_urlpatterns, "staff"))),
    path("", include(("permissions.api.platform_urls", "platform-permissions"))),
    path("billing/", include(("billing.api.urls", "billing"))),
    path("ai/", include(("ai.api.urls", "ai"))),
    path("premium/", include(("premium.api.urls", "premium"))),
    path("", include("integrations.api.urls")),
    path("", include(("notifications.api.urls", "notifications"))),
    path("", include(("messaging.api.urls", "messaging"))),
]
if settings.BENCH_CEILING:
    # Benchmark reference view (core/bench.py), only where `make bench` switches it on.
    api_v1.append(path("bench/", include(("core.bench", "bench"))))

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # Public keys and issuer metadata for services verifying our JWTs (accounts/api/wellknown.py).
    path(".well-known/", include(("accounts.api.wellknown", "well-known"))),
    # Signed service-to-service API (internal/authentication.py), outside /api/v1/ on purpose.
    path("internal/v1/", include(("internal.api.urls", "internal"))),
    # SCIM 2.0 provisioning per org (scim/views.py): the IdP's token, SCIM's own error format.
    path("scim/v2/", include("scim.urls")),
    # The docs views are never throttled (core.views._DocsMixin).
    path("api/schema", core_views.SchemaView.as_view(), name="schema"),
    # Split: the init script is served as a URL (`?script`), so the CSP needs no inline script.
    path("api/docs", core_views.SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc", core_views.RedocView.as_view(url_name="schema"), name="redoc"),
    path("", core_views.root, name="root"),
    path("health", core_views.health, name="health"),
    path("health/detailed", core_views.health_detailed, name="health-detailed"),
    path("health/live", core_views.health_live, name="health-live"),
    path("health/ready", core_views.health_ready, name="health-ready"),
    path("metrics", core_views.metrics, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
]

# Keep this the LAST pattern: any other /api/ path is the envelope's 404, with DEBUG on too (DEBUG's
# own 404 page is HTML). Routes added below it would never be reached.
urlpatterns.append(re_path(r"^api/", core_views.api_not_found, name=API_NOT_FOUND))

handler400 = "core.exceptions.handler400"
handler403 = "core.exceptions.handler403"
handler404 = "core.exceptions.handler404"
handler500 = "core.exceptions.handler500"

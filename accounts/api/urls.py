from django.urls import include, path

from accounts.api import views

app_name = "accounts"

auth_urlpatterns = [
    path("setup-status", views.SetupStatusView.as_view(), name="setup-status"),
    path("register", views.RegisterView.as_view(), name="register"),
    path("login", views.LoginView.as_view(), name="login"),
    path("mfa/verify", views.MfaVerifyView.as_view(), name="mfa-verify"),
    path("select-org", views.SelectOrgView.as_view(), name="select-org"),
    path("refresh", views.RefreshView.as_view(), name="refresh"),
    path("logout", views.LogoutView.as_view(), name="logout"),
    path("logout-all", views.LogoutAllView.as_view(), name="logout-all"),
    path("sessions", views.SessionListView.as_view(), name="sessions"),
    path("sessions/<uuid:session_id>", views.SessionDetailView.as_view(), name="session-detail"),
    path("password/change", views.PasswordChangeView.as_view(), name="password-change"),
    path("password/reset-request", views.PasswordResetRequestView.as_view(), name="password-reset-request"),
    path("password/reset", views.PasswordResetView.as_view(), name="password-reset"),
    path("email/verify", views.EmailVerifyView.as_view(), name="email-verify"),
    path("email/resend", views.EmailResendView.as_view(), name="email-resend"),
    path("mfa", views.MfaStatusView.as_view(), name="mfa-status"),
    path("mfa/totp/enroll", views.MfaEnrollView.as_view(), name="mfa-enroll"),
    path("mfa/totp/confirm", views.MfaConfirmView.as_view(), name="mfa-confirm"),
    path("mfa/backup-codes/regenerate", views.MfaRegenerateView.as_view(), name="mfa-regenerate"),
    path("mfa/totp", views.MfaDisableView.as_view(), name="mfa-disable"),
    # After every fixed mfa/ path: `totp`, `verify`, ... are never read as method ids.
    path("mfa/<str:method_id>", views.MfaMethodView.as_view(), name="mfa-method"),
    path("", include("accounts.api.oauth_urls")),
    path("", include("accounts.api.passkey_urls")),
]

users_urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("me/export", views.MeExportView.as_view(), name="me-export"),
]

staff_urlpatterns = [
    path("impersonate", views.ImpersonateView.as_view(), name="impersonate"),
    path("impersonate/stop", views.ImpersonateStopView.as_view(), name="impersonate-stop"),
]

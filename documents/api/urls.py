"""Documents routes, mounted under /api/v1/orgs/<org_id>/."""

from django.urls import path

from documents.api import views

urlpatterns = [
    path("documents", views.DocumentListView.as_view(), name="documents"),
    path("documents/<uuid:document_id>", views.DocumentDetailView.as_view(), name="document-detail"),
    path("documents/<uuid:document_id>/download", views.DocumentDownloadView.as_view(), name="document-download"),
]

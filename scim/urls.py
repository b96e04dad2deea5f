"""SCIM 2.0 routes, mounted at /scim/v2/ (config/urls.py)."""

from django.urls import path, re_path

from scim import views

app_name = "scim"

urlpatterns = [
    path("<uuid:org_id>/Users", views.UsersView.as_view(), name="users"),
    path("<uuid:org_id>/Users/.search", views.NotImplementedView.as_view(), name="users-search"),
    path("<uuid:org_id>/Users/<str:resource_id>", views.UserDetailView.as_view(), name="user"),
    path("<uuid:org_id>/Groups", views.GroupsView.as_view(), name="groups"),
    path("<uuid:org_id>/Groups/.search", views.NotImplementedView.as_view(), name="groups-search"),
    path("<uuid:org_id>/Groups/<str:resource_id>", views.GroupDetailView.as_view(), name="group"),
    path("<uuid:org_id>/ServiceProviderConfig", views.ServiceProviderConfigView.as_view(), name="service-provider-config"),
    path("<uuid:org_id>/ResourceTypes", views.ResourceTypesView.as_view(), name="resource-types"),
    path("<uuid:org_id>/ResourceTypes/<str:resource_id>", views.ResourceTypesView.as_view(), name="resource-type"),
    path("<uuid:org_id>/Schemas", views.SchemasView.as_view(), name="schemas"),
    path("<uuid:org_id>/Schemas/<str:resource_id>", views.SchemasView.as_view(), name="schema"),
    path("<uuid:org_id>/Bulk", views.NotImplementedView.as_view(), name="bulk"),
    path("<uuid:org_id>/Me", views.NotImplementedView.as_view(), name="me"),
    re_path(r"^.*$", views.not_found, name="not-found"),
]

"""Read-only staff admin of the audit log; rows show their organization's name, not its UUID."""

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList

from audit.models import AuditEvent
from core.admin import ReadOnlyAdmin


def organization_names(ids) -> dict:
    """{org id: name} of the given ids, in one query (audit imports only core: the model is looked up by name)."""
    ids = {pk for pk in ids if pk is not None}
    if not ids:
        return {}
    try:
        organization = apps.get_model("organizations", "Organization")
    except LookupError:  # organizations not installed: ids it is
        return {}
    return dict(organization.objects.filter(pk__in=ids).values_list("pk", "name"))


class _EventChangeList(ChangeList):
    """The changelist, with the names of the page's organizations fetched in one query."""

    def get_results(self, request):
        super().get_results(request)
        events = list(self.result_list)  # evaluates the page once; the template reuses it
        names = organization_names(event.organization_id for event in events)
        for event in events:
            event.organization_name = names.get(event.organization_id)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: audit events are never edited or deleted from the admin."""

    list_display = ("created_at", "action", "actor_email", "organization", "target_type")
    list_filter = ("action", "actor_type", "target_type")
    search_fields = ("action", "actor_email", "target_id", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = ("organization",)

    def get_changelist(self, request, **kwargs):
        return _EventChangeList

    @admin.display(description="Organization")
    def organization(self, event: AuditEvent) -> str:
        if event.organization_id is None:
            return "-"
        if not hasattr(event, "organization_name"):  # a change page: one row, one query
            event.organization_name = organization_names([event.organization_id]).get(event.organization_id)
        return event.organization_name or str(event.organization_id)

"""Copy the domains enforcing connections serve onto their orgs (Organization.sso_enforced_domains).

The per-org, per-request enforcement reads that copy; connections saved before it existed would
otherwise enforce nothing per org until saved again.
"""

from django.db import migrations


def backfill(apps, schema_editor):
    SSOConnection = apps.get_model("sso", "SSOConnection")
    Organization = apps.get_model("organizations", "Organization")
    enforced: dict = {}
    for organization_id, domains in SSOConnection.objects.filter(enforce=True).values_list("organization_id", "domains"):
        enforced.setdefault(organization_id, set()).update(domains or [])
    for organization_id, domains in enforced.items():
        Organization.objects.filter(id=organization_id).update(sso_enforced_domains=sorted(domains))


class Migration(migrations.Migration):
    dependencies = [
        ("sso", "0002_trusted_permissions"),
        ("organizations", "0004_sso_enforced_domains"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

"""Add the per-organization hash chain (sequence, prev_hash, hash) and chain existing events."""
from django.db import migrations, models


def chain_existing_events(apps, schema_editor):
    """Give events recorded before the chain existed their place in it, oldest first."""
    from audit import chain

    AuditEvent = apps.get_model("audit", "AuditEvent")
    db = schema_editor.connection.alias
    events = AuditEvent.objects.using(db)
    organization_ids = events.order_by().values_list("organization_id", flat=True).distinct()
    for organization_id in list(organization_ids):
        prev_hash = chain.GENESIS
        ordered = events.filter(organization_id=organization_id).order_by("created_at", "id")
        for sequence, event in enumerate(ordered.iterator(chunk_size=2000), start=1):
            event.sequence, event.prev_hash = sequence, prev_hash
            event.hash = chain.hash_of(event)
            events.filter(pk=event.pk).update(sequence=sequence, prev_hash=prev_hash, hash=event.hash)
            prev_hash = event.hash


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="sequence",
            field=models.PositiveBigIntegerField(default=0, editable=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("organization_id", "sequence"), name="audit_org_sequence_uniq"),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("organization_id__isnull", True)),
                fields=("sequence",),
                name="audit_orgless_sequence_uniq",
            ),
        ),
    ]

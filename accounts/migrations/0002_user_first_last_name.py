"""Users carry `first_name` and `last_name` beside `full_name`; existing names are split once."""

from django.db import migrations, models


def split_full_names(apps, schema_editor):
    """Fill the new fields from `full_name`: the first word is the first name, the rest the last name."""
    User = apps.get_model("accounts", "User")
    batch = []
    for user in User.objects.exclude(full_name="").only("id", "full_name").iterator(chunk_size=1000):
        first, _, last = " ".join(user.full_name.split()).partition(" ")
        user.first_name, user.last_name = first, last
        batch.append(user)
        if len(batch) >= 1000:
            User.objects.bulk_update(batch, ["first_name", "last_name"])
            batch = []
    if batch:
        User.objects.bulk_update(batch, ["first_name", "last_name"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="first_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="user",
            name="last_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.RunPython(split_full_names, migrations.RunPython.noop),
    ]

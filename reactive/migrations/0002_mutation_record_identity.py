from django.db import migrations, models


class Migration(migrations.Migration):
    """Bind each mutation record to the identity that ran it.

    Records made before have no identity (""), which matches none: a request re-sent across the
    upgrade is answered with ``IdentityMismatch`` rather than with an outcome of unknown owner.
    """

    dependencies = [
        ("reactive", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="mutationrecord",
            name="identity",
            field=models.CharField(default="", max_length=255),
            preserve_default=False,
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    """Keep a failed mutation's error code, so that a re-sent request is answered with it too."""

    dependencies = [
        ("reactive", "0002_mutation_record_identity"),
    ]

    operations = [
        migrations.AddField(
            model_name="mutationrecord",
            name="error_code",
            field=models.CharField(default="", max_length=64),
        ),
    ]

"""Models covering every field and relation kind whose writes a live query must see.

Foreign keys (CASCADE and nullable SET_NULL), many-to-many, a one-to-one primary key, multi-table
inheritance, a generated column, a database default, decimals, dates, datetimes, JSON and nullable values.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.db.models.functions import Lower


class Tag(models.Model):
    name = models.CharField(max_length=40, unique=True)

    class Meta:
        ordering = ["id"]


class Author(models.Model):
    name = models.CharField(max_length=40, unique=True)
    age = models.IntegerField(null=True)
    born = models.DateField(null=True)
    score = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    data = models.JSONField(null=True)
    active = models.BooleanField(default=True)
    # Computed by the database: never in the values Django sends.
    name_lower = models.GeneratedField(
        expression=Lower("name"), output_field=models.CharField(max_length=40), db_persist=True
    )
    level = models.IntegerField(db_default=1)

    class Meta:
        ordering = ["id"]


class Profile(models.Model):
    author = models.OneToOneField(Author, primary_key=True, on_delete=models.CASCADE, related_name="profile")
    bio = models.CharField(max_length=80, default="")


class Post(models.Model):
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="posts")
    editor = models.ForeignKey(Author, null=True, on_delete=models.SET_NULL, related_name="edited")
    title = models.CharField(max_length=80)
    rank = models.IntegerField(default=0)
    double_rank = models.GeneratedField(expression=F("rank") * 2, output_field=models.IntegerField(), db_persist=True)
    day = models.DateField(null=True)
    published = models.DateTimeField(null=True)
    tags = models.ManyToManyField(Tag, related_name="posts", blank=True)

    class Meta:
        ordering = ["id"]


class Place(models.Model):
    name = models.CharField(max_length=40)
    city = models.CharField(max_length=40, default="")

    class Meta:
        ordering = ["id"]


class Restaurant(Place):
    """Multi-table inheritance: a child row joined to its Place row by pk."""

    serves_pizza = models.BooleanField(default=False)
    rating = models.IntegerField(null=True)


class Edition(models.Model):
    """A composite primary key: the pk of a written row is a tuple (no column of its own)."""

    pk = models.CompositePrimaryKey("book", "number")
    book = models.CharField(max_length=40)
    number = models.IntegerField()
    title = models.CharField(max_length=80, default="")

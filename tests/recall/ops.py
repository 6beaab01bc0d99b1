"""Random writes (JSON dicts) through every write path, and :func:`apply` that performs one.

An op names its targets by ordinal (``"a": 3`` is the 4th author by pk, modulo how many exist),
so the same op sequence replays on a fresh database. :func:`apply` runs one op as one
transaction, or as none: ``fail`` ops raise inside ``atomic()`` and roll back, and
``executescript`` runs in autocommit. Backend-specific ops (COPY, Composed and bytes SQL,
multi-statement SQL, executescript) are only drawn for the backend that has them.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce

from .models import Author, Place, Post, Profile, Restaurant, Tag
from .specs import BIOS, CITIES, NAMES, TAGS, TITLES, rand_date, rand_score

Op = dict[str, Any]


class IntendedFailure(Exception):
    """Raised by ``fail`` ops and by the inner block of ``savepoint`` ops: a rollback on purpose."""


def _nth(model: type[models.Model], n: int) -> Any:
    """The ``n``-th row of ``model`` by pk (modulo the count), or None if the table is empty."""
    pks = list(model.objects.order_by("pk").values_list("pk", flat=True))
    return model.objects.get(pk=pks[n % len(pks)]) if pks else None


def _free_name(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def _free_author_name(base: str) -> str:
    return _free_name(base, set(Author.objects.values_list("name", flat=True)))


def _published(rng: random.Random) -> str | None:
    return None if rng.random() < 0.3 else f"{rand_date(rng)}T{rng.randint(0, 23):02d}:00:00+00:00"


# --- drawing ops --------------------------------------------------------------------------------


def _author_fields(rng: random.Random) -> dict[str, Any]:
    """Random Author field values, numbers and dates often as strings (the stored value differs)."""
    choices: dict[str, Callable[[], Any]] = {
        "age": lambda: rng.choice([None, rng.randint(0, 9), str(rng.randint(0, 9))]),
        "score": lambda: rng.choice([None, rand_score(rng), rng.randint(0, 9)]),
        "born": lambda: rng.choice([None, rand_date(rng)]),
        "data": lambda: rng.choice(
            [None, {"k": rng.randint(0, 3)}, {"k": rng.randint(0, 3), "tag": "x"}, {"tag": "y"}]
        ),
        "active": lambda: rng.random() < 0.5,
        "name": lambda: rng.choice(NAMES) + rng.choice(["", "2"]),
        "level": lambda: rng.randint(1, 3),
    }
    return {k: choices[k]() for k in rng.sample(list(choices), rng.randint(1, 3))}


def _post_fields(rng: random.Random) -> dict[str, Any]:
    choices: dict[str, Callable[[], Any]] = {
        "title": lambda: rng.choice(TITLES),
        "rank": lambda: rng.choice([rng.randint(0, 9), str(rng.randint(0, 9))]),
        "day": lambda: rng.choice([None, rand_date(rng)]),
        "published": lambda: _published(rng),
        "author_id": lambda: rng.choice([rng.randint(1, 10), str(rng.randint(1, 10))]),
        "editor_id": lambda: rng.choice([None, rng.randint(1, 10)]),
    }
    return {k: choices[k]() for k in rng.sample(list(choices), rng.randint(1, 3))}


# Writes that reach rows another way (see "writes that reach rows another way" below), drawn with the
# same fields: form (0-3), value, name, others, model; (kind, weight).
EXTRA_KINDS: list[tuple[str, int]] = [
    ("qs_update_expr", 3),
    ("rename", 2),
    ("bulk_update_mti", 1),
    ("cascade", 2),
    ("through", 3),
    ("qs_update_or_create", 1),
    ("force_insert", 1),
    ("resurrect", 2),
    ("raw_returning", 1),
    ("raw_upsert", 1),
]


def _draw_simple(rng: random.Random, vendor: str, nested: bool = False) -> Op:
    """One write that is not itself a transaction wrapper (``nested``: inside one, so no executescript)."""
    n = rng.randint(0, 20)
    kinds: list[tuple[str, int]] = [
        ("create_author", 3),
        ("save_author", 4),
        ("create_post", 4),
        ("save_post", 4),
        ("qs_update", 4),
        ("bulk_create", 2),
        ("upsert", 3),
        ("bulk_update", 2),
        ("delete", 3),
        ("qs_delete", 2),
        ("m2m", 4),
        ("get_or_create", 2),
        ("profile", 2),
        ("restaurant", 3),
        ("raw", 3),
    ]
    kinds += EXTRA_KINDS
    if vendor == "postgresql":
        kinds += [("copy", 1), ("raw_composed", 1), ("raw_bytes", 1), ("raw_multi", 1), ("select_writes", 1)]
    kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
    op: Op = {"op": kind, "n": n}
    if kind == "create_author":
        op.update(name=rng.choice(NAMES), fields=_author_fields(rng))
        op["fields"].pop("name", None)
    elif kind == "save_author":
        op.update(fields=_author_fields(rng), update_fields=rng.random() < 0.4)
    elif kind == "create_post":
        op.update(fields={"title": rng.choice(TITLES), "author_id": rng.randint(1, 10), **_post_fields(rng)})
    elif kind == "save_post":
        op.update(fields=_post_fields(rng), update_fields=rng.random() < 0.4)
    elif kind == "qs_update":
        op.update(_draw_qs_update(rng))
    elif kind == "bulk_create":
        op.update(model=rng.choice(["Post", "Tag"]), count=rng.randint(1, 3), rank=rng.randint(0, 9))
    elif kind == "upsert":
        op.update(
            model=rng.choice(["Author", "Tag"]),
            names=rng.sample(NAMES if rng.random() < 0.7 else TAGS, rng.randint(1, 3)),
            age=rng.randint(0, 9),
            score=rand_score(rng),
        )
    elif kind == "bulk_update":
        op.update(model=rng.choice(["Post", "Author"]), count=rng.randint(1, 3), value=rng.randint(0, 9))
    elif kind == "delete":
        op.update(model=rng.choice(["Author", "Post", "Tag", "Restaurant", "Place", "Profile"]))
    elif kind == "qs_delete":
        op.update(model=rng.choice(["Post", "Author", "Tag"]), below=rng.randint(0, 4), everything=rng.random() < 0.05)
    elif kind == "m2m":
        op.update(
            side=rng.choice(["post", "tag"]),
            action=rng.choice(["add", "remove", "clear", "set"]),
            others=rng.sample(range(6), rng.randint(1, 3)),
        )
    elif kind == "get_or_create":
        op.update(
            model=rng.choice(["Author", "Tag", "Profile"]),
            update=rng.random() < 0.5,
            name=rng.choice(NAMES + TAGS),
            age=rng.randint(0, 9),
            bio=rng.choice(BIOS),
        )
    elif kind == "profile":
        op.update(bio=rng.choice(BIOS), action=rng.choice(["create", "save", "update"]))
    elif kind == "restaurant":
        op.update(
            action=rng.choice(["create", "save_parent_field", "save_child_field", "place", "update_parent"]),
            name=rng.choice(NAMES),
            city=rng.choice(CITIES),
            rating=rng.choice([None, rng.randint(0, 5)]),
        )
    elif kind in ("raw", "raw_composed", "raw_bytes", "raw_multi"):
        op.update(form=rng.choice(["update", "insert", "delete", "executemany"]), value=rng.randint(0, 9))
        if kind == "raw" and vendor == "sqlite" and not nested and rng.random() < 0.25:
            op["op"], op["form"] = "executescript", "executescript"
    elif kind == "copy":
        op.update(names=rng.sample(TAGS, 2))
    elif kind in dict(EXTRA_KINDS) or kind == "select_writes":
        op.update(
            form=rng.randrange(4),
            value=rng.randint(0, 9),
            name=rng.choice(NAMES + TAGS),
            others=rng.sample(range(6), rng.randint(1, 3)),
            model=rng.choice(["Author", "Post", "Restaurant", "Tag"]),
        )
    return op


def _draw_qs_update(rng: random.Random) -> Op:
    model = rng.choice(["Post", "Author", "Restaurant"])
    value: Any
    field, value = {
        "Post": lambda: rng.choice(
            [("rank", rng.randint(0, 9)), ("rank", "F+1"), ("day", rand_date(rng)), ("title", rng.choice(TITLES))]
        ),
        "Author": lambda: rng.choice(
            [("age", rng.randint(0, 9)), ("age", "F+1"), ("born", rand_date(rng)), ("score", rand_score(rng))]
        ),
        "Restaurant": lambda: rng.choice([("rating", rng.randint(0, 5)), ("city", rng.choice(CITIES))]),
    }[model]()
    where = None if rng.random() < 0.25 else {"pk__lte": rng.randint(1, 10)}
    return {"model": model, "field": field, "value": value, "where": where}


def random_op(rng: random.Random, vendor: str) -> Op:
    """A random op: mostly one write, sometimes a failing mutation or a rolled-back savepoint."""
    roll = rng.random()
    if roll < 0.08:
        return {"op": "fail", "writes": [_draw_simple(rng, vendor, True) for _ in range(rng.randint(1, 2))]}
    if roll < 0.18:
        parts = [_draw_simple(rng, vendor, True) for _ in range(3)]
        return {"op": "savepoint", "before": parts[0], "inner": parts[1], "after": parts[2]}
    return _draw_simple(rng, vendor)


# --- applying ops -------------------------------------------------------------------------------

MODELS: dict[str, type[models.Model]] = {m.__name__: m for m in (Author, Post, Tag, Profile, Place, Restaurant)}


def _create_author(op: Op) -> None:
    Author(name=_free_author_name(op["name"]), **op["fields"]).save()


def _save_author(op: Op) -> None:
    author = _nth(Author, op["n"])
    if author is None:
        return
    fields = dict(op["fields"])
    if "name" in fields:
        fields["name"] = _free_author_name(fields["name"])
    for name, value in fields.items():
        setattr(author, name, value)
    author.save(update_fields=list(fields) if op["update_fields"] else None)


def _resolve_post_fks(fields: dict[str, Any]) -> dict[str, Any]:
    """Foreign keys as ordinals of existing authors (kept a string when given as one)."""
    resolved = dict(fields)
    for name in ("author_id", "editor_id"):
        if resolved.get(name) is not None:
            author = _nth(Author, int(resolved[name]))
            pk = author.pk if author is not None else None
            resolved[name] = str(pk) if isinstance(resolved[name], str) and pk is not None else pk
    return resolved


def _create_post(op: Op) -> None:
    fields = _resolve_post_fks(op["fields"])
    if fields.get("author_id") is not None:
        Post(**fields).save()


def _save_post(op: Op) -> None:
    post = _nth(Post, op["n"])
    if post is None:
        return
    fields = _resolve_post_fks(op["fields"])
    if "author_id" in fields and fields["author_id"] is None:
        del fields["author_id"]
    for name, value in fields.items():
        setattr(post, name, value)
    post.save(update_fields=[f.removesuffix("_id") for f in fields] if op["update_fields"] else None)


def _qs_update(op: Op) -> None:
    model = MODELS[op["model"]]
    value = F(op["field"]) + 1 if op["value"] == "F+1" else op["value"]
    qs = model.objects.filter(**op["where"]) if op["where"] else model.objects
    qs.update(**{op["field"]: value})


def _bulk_create(op: Op) -> None:
    if op["model"] == "Tag":
        taken = set(Tag.objects.values_list("name", flat=True))
        names: list[str] = []
        for i in range(op["count"]):
            names.append(_free_name(TAGS[(op["n"] + i) % len(TAGS)], taken | set(names)))
        Tag.objects.bulk_create([Tag(name=name) for name in names])
        return
    author = _nth(Author, op["n"])
    if author is not None:
        posts = [Post(author=author, title=TITLES[i % len(TITLES)], rank=op["rank"]) for i in range(op["count"])]
        Post.objects.bulk_create(posts)


def _upsert(op: Op) -> None:
    if op["model"] == "Tag":
        Tag.objects.bulk_create(
            [Tag(name=name) for name in op["names"]],
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["name"],
        )
        return
    authors = [Author(name=name, age=op["age"], score=op["score"]) for name in op["names"]]
    Author.objects.bulk_create(authors, update_conflicts=True, unique_fields=["name"], update_fields=["age", "score"])


def _bulk_update(op: Op) -> None:
    model = MODELS[op["model"]]
    objs = list(model.objects.order_by("pk")[op["n"] % 5 : op["n"] % 5 + op["count"]])
    field = "rank" if op["model"] == "Post" else "age"
    for i, obj in enumerate(objs):
        setattr(obj, field, (op["value"] + i) % 10)
    model.objects.bulk_update(objs, [field])


def _delete(op: Op) -> None:
    obj = _nth(MODELS[op["model"]], op["n"])
    if obj is not None:
        obj.delete()


def _qs_delete(op: Op) -> None:
    model = MODELS[op["model"]]
    if op["everything"]:
        model.objects.all().delete()
    elif op["model"] == "Post":
        Post.objects.filter(rank__lt=op["below"]).delete()
    elif op["model"] == "Author":
        Author.objects.filter(age__lt=op["below"] - 2).delete()
    else:
        Tag.objects.filter(name__startswith=TAGS[op["below"] % len(TAGS)][:1]).delete()


def _m2m(op: Op) -> None:
    owner_model, other_model, attr = (Post, Tag, "tags") if op["side"] == "post" else (Tag, Post, "posts")
    owner = _nth(owner_model, op["n"])
    others = [o for o in (_nth(other_model, i) for i in op["others"]) if o is not None]
    if owner is None:
        return
    manager = getattr(owner, attr)
    if op["action"] == "clear":
        manager.clear()
    elif op["action"] == "set":
        manager.set(others)
    else:
        getattr(manager, op["action"])(*others)


def _get_or_create(op: Op) -> None:
    method = "update_or_create" if op["update"] else "get_or_create"
    if op["model"] == "Author":
        getattr(Author.objects, method)(name=op["name"], defaults={"age": op["age"]})
    elif op["model"] == "Tag":
        getattr(Tag.objects, method)(name=op["name"])
    else:
        author = _nth(Author, op["n"])
        if author is not None:
            getattr(Profile.objects, method)(author=author, defaults={"bio": op["bio"]})


def _profile(op: Op) -> None:
    author = _nth(Author, op["n"])
    if author is None:
        return
    if op["action"] == "create":
        if not Profile.objects.filter(pk=author.pk).exists():
            Profile(author=author, bio=op["bio"]).save()
    elif op["action"] == "save":
        profile = _nth(Profile, op["n"])
        if profile is not None:
            profile.bio = op["bio"]
            profile.save()
    else:
        Profile.objects.filter(author__name=author.name).update(bio=op["bio"])


def _restaurant(op: Op) -> None:
    action = op["action"]
    if action == "create":
        Restaurant(name=op["name"], city=op["city"], rating=op["rating"], serves_pizza=op["n"] % 2 == 0).save()
    elif action == "place":
        Place(name=op["name"], city=op["city"]).save()
    elif action == "update_parent":
        Restaurant.objects.filter(rating__gte=op["n"] % 5).update(city=op["city"])
    elif (restaurant := _nth(Restaurant, op["n"])) is not None:
        if action == "save_parent_field":
            restaurant.city = op["city"]
        else:
            restaurant.rating = op["rating"]
        restaurant.save()


def _raw_sql(op: Op) -> tuple[str, list[Any]]:
    """One parameterised raw write on recall_post or recall_tag."""
    if op["form"] == "insert":
        author = _nth(Author, op["n"])
        if author is None:
            return "UPDATE recall_post SET rank = rank WHERE id = %s", [-1]
        return (
            "INSERT INTO recall_post (author_id, title, rank, editor_id, day, published) "
            "VALUES (%s, %s, %s, NULL, NULL, NULL)",
            [author.pk, "raw", op["value"]],
        )
    if op["form"] == "delete":
        return "DELETE FROM recall_post_tags WHERE tag_id = %s", [op["value"] % 5]
    return "UPDATE recall_post SET rank = %s WHERE id %% 3 = %s", [op["value"], op["n"] % 3]


def _raw(op: Op) -> None:
    sql, params = _raw_sql(op)
    with connection.cursor() as cursor:
        if op["form"] == "executemany":
            cursor.executemany("UPDATE recall_author SET age = %s WHERE id = %s", [[op["value"], 1], [op["value"], 2]])
        else:
            cursor.execute(sql, params)


def _raw_composed(op: Op) -> None:
    from psycopg import sql

    statement = sql.SQL("UPDATE {} SET {} = {} WHERE {} <= {}").format(
        sql.Identifier("recall_post"),
        sql.Identifier("rank"),
        sql.Literal(op["value"]),
        sql.Identifier("id"),
        sql.Literal(op["n"] % 10),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement)


def _raw_bytes(op: Op) -> None:
    with connection.cursor() as cursor:
        cursor.execute(b"UPDATE recall_author SET age = %s WHERE id <= %s", [op["value"], op["n"] % 10])


def _raw_multi(op: Op) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1; UPDATE recall_post SET rank = {op['value']} WHERE id <= {op['n'] % 10}; "
            f"UPDATE recall_tag SET name = name || 'x' WHERE id = {op['n'] % 6}"
        )


def _copy(op: Op) -> None:
    taken = set(Tag.objects.values_list("name", flat=True))
    with connection.cursor() as cursor, cursor.copy("COPY recall_tag (name) FROM STDIN") as copy:
        for name in op["names"]:
            copy.write_row([_free_name(name, taken)])
            taken.add(_free_name(name, taken))


def _executescript(op: Op) -> None:
    """SQLite's executescript (through Django's cursor wrapper), in autocommit: it commits by itself."""
    with connection.cursor() as cursor:
        cursor.executescript(
            f"UPDATE recall_post SET rank = {op['value']} WHERE id <= {op['n'] % 10};"
            f"UPDATE recall_author SET age = {op['value']} WHERE id = {op['n'] % 10};"
        )


# --- writes that reach rows another way: expressions, cascades, the through model, stale pks, raw SQL --


def _qs_update_expr(op: Op) -> None:
    """update() whose SET values are expressions of other columns (F across columns, Case/When, Coalesce)."""
    k = op["value"]
    if op["form"] == 0:
        Post.objects.filter(rank__lt=k).update(rank=F("double_rank") - F("rank") + 1)
    elif op["form"] == 1:
        Post.objects.filter(pk__lte=k + 3).update(
            title=Case(When(rank__gte=k, then=Value("alpha")), default=F("title")),
            rank=Case(When(rank__gte=k, then=F("rank") - 1), default=Value(k)),
        )
    elif op["form"] == 2:
        Author.objects.filter(age__gte=k % 5).update(level=Coalesce(F("age"), Value(1)), age=F("level"))
    else:
        Post.objects.filter(editor__isnull=False, rank__gte=k % 4).update(editor=F("author"))


def _rename(op: Op) -> None:
    """update() of a column other queries ORDER BY, on one row pinned by pk and a condition."""
    k = op["value"]
    if op["model"] in ("Author", "Post"):
        author = _nth(Author, op["n"])
        if author is not None:
            Author.objects.filter(pk=author.pk, age__lt=k).update(name=_free_author_name(op["name"]))
    elif op["model"] == "Restaurant":
        Restaurant.objects.filter(rating__lte=k % 6).update(rating=F("rating") + 1)
    else:
        tag = _nth(Tag, op["n"])
        if tag is not None:
            taken = set(Tag.objects.values_list("name", flat=True))
            Tag.objects.filter(pk=tag.pk).update(name=_free_name(op["name"], taken))


def _bulk_update_mti(op: Op) -> None:
    """bulk_update of multi-table inheritance children, on a parent field and a child field."""
    objs = list(Restaurant.objects.order_by("pk")[op["n"] % 3 : op["n"] % 3 + 2])
    for i, obj in enumerate(objs):
        obj.city = CITIES[(op["value"] + i) % len(CITIES)]
        obj.rating = None if (op["value"] + i) % 4 == 0 else (op["value"] + i) % 6
    fields = [["city"], ["rating"], ["city", "rating"], ["rating", "serves_pizza"]][op["form"]]
    Restaurant.objects.bulk_update(objs, fields, batch_size=1 if op["form"] == 3 else None)


def _cascade(op: Op) -> None:
    """Deletes that cascade through several levels (author -> profile, posts -> m2m rows; editor SET NULL)."""
    if op["form"] == 0:
        Author.objects.filter(name__in=[NAMES[op["n"] % 10], NAMES[op["value"]]]).delete()
    elif op["form"] == 1:
        Place.objects.filter(city=CITIES[op["value"] % 3], pk__gte=op["n"] % 5).delete()
    elif op["form"] == 2:
        Author.objects.filter(edited__rank__gte=op["value"]).delete()
    else:
        Tag.objects.filter(posts__author__age__lt=op["value"] % 4).delete()


def _through(op: Op) -> None:
    """Writes of the m2m rows through the through model itself."""
    through = Post.tags.through
    post, tag = _nth(Post, op["n"]), _nth(Tag, op["value"])
    if post is None or tag is None:
        return
    if op["form"] == 0:
        rows = [through(post_id=post.pk, tag_id=t.pk) for t in (_nth(Tag, i) for i in op["others"]) if t is not None]
        through.objects.bulk_create(rows, ignore_conflicts=True)
    elif op["form"] == 1:
        through.objects.filter(tag_id=tag.pk, post__rank__lte=op["value"]).delete()
    elif op["form"] == 2:
        # Move one row to another tag, when the post does not have it yet.
        row = through.objects.filter(post_id=post.pk).order_by("pk").first()
        if row is not None and not through.objects.filter(post_id=post.pk, tag_id=tag.pk).exists():
            through.objects.filter(pk=row.pk).update(tag_id=tag.pk)
    elif not through.objects.filter(post_id=post.pk, tag_id=tag.pk).exists():
        through(post=post, tag=tag).save()


def _qs_update_or_create(op: Op) -> None:
    """QuerySet.update_or_create on a filtered queryset (get with select_for_update, then save or create)."""
    k = op["value"]
    if op["model"] in ("Author", "Restaurant"):
        existing = list(Author.objects.filter(age__gte=k % 5).values_list("name", flat=True))
        name = existing[op["n"] % len(existing)] if existing and op["n"] % 2 else _free_author_name(op["name"])
        Author.objects.filter(age__gte=k % 5).update_or_create(
            name=name, defaults={"age": k, "score": k}, create_defaults={"age": k % 5 + 1, "active": False}
        )
    else:
        author = _nth(Author, op["n"])
        if author is not None:
            Profile.objects.filter(author__active=author.active).update_or_create(
                author=author, defaults={"bio": BIOS[k % 4]}, create_defaults={"bio": "new"}
            )


def _force_insert(op: Op) -> None:
    """save(force_insert=True) of a new object (an MTI child inserts its parent too)."""
    if op["model"] == "Restaurant":
        Restaurant(name=op["name"], city=CITIES[op["value"] % 3], rating=op["value"] % 6).save(force_insert=True)
    elif op["model"] == "Author":
        Author(name=_free_author_name(op["name"]), age=op["value"]).save(force_insert=True)
    else:
        author = _nth(Author, op["n"])
        if author is not None:
            Post(author=author, title=TITLES[op["value"] % 5], rank=op["value"]).save(force_insert=True)


def _resurrect(op: Op) -> None:
    """save() of an object whose row is gone (a stale pk): an UPDATE of no row, then an INSERT with that pk."""
    model = MODELS[op["model"] if op["model"] != "Tag" else "Place"]
    obj = _nth(model, op["n"])
    if obj is None:
        return
    if op["form"] == 3:
        stale = model.objects.get(pk=obj.pk)  # obj.delete() clears obj's pk: save a copy read before
        obj.delete()
    else:
        stale = obj  # deleted by a queryset: the object keeps its pk
        model.objects.filter(pk=obj.pk).delete()
    if isinstance(stale, Author):
        stale.age = op["value"]
    elif isinstance(stale, Post):
        stale.rank = op["value"]
        if not Author.objects.filter(pk=stale.author_id).exists():
            return
        if stale.editor_id is not None and not Author.objects.filter(pk=stale.editor_id).exists():
            stale.editor_id = None
    elif isinstance(stale, Restaurant):
        stale.rating = op["value"] % 6
    else:
        stale.city = CITIES[op["value"] % 3]
    stale.save(force_insert=op["form"] == 2)


def _raw_returning(op: Op) -> None:
    """Raw INSERT ... RETURNING (and UPDATE ... RETURNING), reading the rows back."""
    with connection.cursor() as cursor:
        if op["form"] % 2:
            cursor.execute("UPDATE recall_post SET rank = %s WHERE id = %s RETURNING id, rank", [op["value"], op["n"]])
        else:
            author = _nth(Author, op["n"])
            if author is None:
                return
            cursor.execute(
                "INSERT INTO recall_post (author_id, title, rank) VALUES (%s, %s, %s) RETURNING id",
                [author.pk, TITLES[op["value"] % 5], op["value"]],
            )
        cursor.fetchall()


def _raw_upsert(op: Op) -> None:
    """Raw INSERT ... ON CONFLICT DO UPDATE on a unique column: inserts or updates."""
    with connection.cursor() as cursor:
        if op["model"] in ("Tag", "Post"):
            cursor.execute(
                "INSERT INTO recall_tag (name) VALUES (%s) "
                + (
                    "ON CONFLICT (name) DO NOTHING"
                    if op["form"] % 2
                    else "ON CONFLICT (name) DO UPDATE SET name = excluded.name"
                ),
                [op["name"]],
            )
            return
        name = NAMES[op["n"] % 10] if op["form"] % 2 else op["name"]
        cursor.execute(
            "INSERT INTO recall_author (name, age, active) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET age = excluded.age, level = recall_author.level + 1",
            [name, op["value"], True],
        )


SELECT_WRITES_FUNCTION = """
CREATE OR REPLACE FUNCTION recall_bump_rank(post_id integer, new_rank integer) RETURNS integer AS $$
BEGIN
    UPDATE recall_post SET rank = new_rank WHERE id = post_id;
    RETURN new_rank;
END
$$ LANGUAGE plpgsql
"""


def _select_writes(op: Op) -> None:
    """PostgreSQL: statements that read like reads but write (a function called by SELECT, EXPLAIN ANALYZE)."""
    post = _nth(Post, op["n"])
    if post is None:
        return
    with connection.cursor() as cursor:
        if op["form"] % 2:
            cursor.execute("SELECT recall_bump_rank(%s, %s)", [post.pk, op["value"]])
        else:
            cursor.execute("EXPLAIN ANALYZE UPDATE recall_post SET rank = %s WHERE id = %s", [op["value"], post.pk])
        cursor.fetchall()


APPLY: dict[str, Callable[[Op], None]] = {
    "create_author": _create_author,
    "save_author": _save_author,
    "create_post": _create_post,
    "save_post": _save_post,
    "qs_update": _qs_update,
    "bulk_create": _bulk_create,
    "upsert": _upsert,
    "bulk_update": _bulk_update,
    "delete": _delete,
    "qs_delete": _qs_delete,
    "m2m": _m2m,
    "get_or_create": _get_or_create,
    "profile": _profile,
    "restaurant": _restaurant,
    "raw": _raw,
    "raw_composed": _raw_composed,
    "raw_bytes": _raw_bytes,
    "raw_multi": _raw_multi,
    "copy": _copy,
    "qs_update_expr": _qs_update_expr,
    "rename": _rename,
    "bulk_update_mti": _bulk_update_mti,
    "cascade": _cascade,
    "through": _through,
    "qs_update_or_create": _qs_update_or_create,
    "force_insert": _force_insert,
    "resurrect": _resurrect,
    "raw_returning": _raw_returning,
    "raw_upsert": _raw_upsert,
    "select_writes": _select_writes,
}


def names(op: Op) -> str:
    """A short name of what ``op`` does (``savepoint(create_post,m2m,raw)``), for grouping problems."""
    if op["op"] == "fail":
        return f"fail({','.join(names(w) for w in op['writes'])})"
    if op["op"] == "savepoint":
        return f"savepoint({names(op['before'])},{names(op['inner'])},{names(op['after'])})"
    return str(op["op"])


def perform(op: Op) -> None:
    """Run ``op``'s writes in the current transaction (``fail`` ops raise :class:`IntendedFailure`)."""
    if op["op"] == "fail":
        for write in op["writes"]:
            perform(write)
        raise IntendedFailure("a failing mutation")
    if op["op"] == "savepoint":
        perform(op["before"])
        try:
            with transaction.atomic():
                perform(op["inner"])
                raise IntendedFailure("a rolled-back savepoint")
        except IntendedFailure:
            pass
        perform(op["after"])
        return
    APPLY[op["op"]](op)


def apply(op: Op) -> None:
    """Perform ``op`` as one transaction (a ``fail`` op rolls back and raises :class:`IntendedFailure`)."""
    if op["op"] == "executescript":
        _executescript(op)
        return
    with transaction.atomic():
        perform(op)


def seed_data(rng: random.Random) -> None:
    """A starting dataset: authors (some with profiles), posts with tags and editors, places, restaurants."""
    with transaction.atomic():
        authors = [
            Author.objects.create(
                name=name,
                age=rng.choice([None, *range(10)]),
                born=rng.choice([None, rand_date(rng)]),
                score=rng.choice([None, rand_score(rng)]),
                data=rng.choice([None, {"k": rng.randint(0, 3)}, {"tag": "x", "k": 1}]),
                active=rng.random() < 0.7,
            )
            for name in NAMES[:6]
        ]
        for author in authors[::2]:
            Profile.objects.create(author=author, bio=rng.choice(BIOS))
        tags = [Tag.objects.create(name=name) for name in TAGS]
        for _ in range(10):
            post = Post.objects.create(
                author=rng.choice(authors),
                editor=rng.choice([None, *authors]),
                title=rng.choice(TITLES),
                rank=rng.randint(0, 9),
                day=rng.choice([None, datetime.date(2023, rng.randint(1, 3), 1)]),
                published=_published(rng),
            )
            post.tags.set(rng.sample(tags, rng.randint(0, 2)))
        for name in NAMES[:3]:
            Restaurant.objects.create(name=name, city=rng.choice(CITIES), rating=rng.randint(0, 5))
        Place.objects.create(name="plain", city=rng.choice(CITIES))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(SELECT_WRITES_FUNCTION)

"""Random query specs (JSON dicts) and the builder that runs one and returns a JSON value.

A spec is ``{"kind": ..., ...}``. :func:`random_spec` draws one from a ``random.Random``;
:func:`evaluate` runs it with the ORM (or raw SQL) and returns a JSON-able value with a stable
order, Decimals, dates and datetimes as strings. The same spec always builds the same query, so
a spec printed by a failing test replays it.
"""

from __future__ import annotations

import datetime
import decimal
import random
from collections.abc import Callable
from typing import Any

from django.db import connection, models
from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, RowNumber

from .models import Author, Place, Post, Profile, Restaurant, Tag

Spec = dict[str, Any]

MODELS: dict[str, type[models.Model]] = {m.__name__: m for m in (Author, Post, Tag, Profile, Place, Restaurant)}
NAMES = ["ann", "Bob", "cy", "Dee", "eve", "FAY", "gus", "hal", "ivy", "Jo"]
TITLES = ["alpha", "beta", "Gamma", "delta", "eps"]
TAGS = ["red", "green", "blue", "Cyan"]
CITIES = ["oslo", "rome", "Lima"]
BIOS = ["", "poet", "Painter", "pilot"]


def rand_date(rng: random.Random) -> str:
    return f"{rng.choice([2022, 2023, 2024])}-{rng.randint(1, 3):02d}-{rng.randint(1, 3):02d}"


def rand_score(rng: random.Random) -> str:
    return f"{rng.randint(0, 9)}.{rng.choice(['00', '50'])}"


def _case(rng: random.Random, text: str) -> str:
    return rng.choice([text, text.upper(), text.lower(), text.capitalize()])


# Lookups per model: (lookup path, value generator). Joins cross FK, reverse FK, M2M, the
# one-to-one pk (Profile) and multi-table inheritance (Restaurant -> Place) both ways.
Gen = Callable[[random.Random], Any]
LOOKUPS: dict[str, list[tuple[str, Gen]]] = {
    "Author": [
        ("name", lambda r: r.choice(NAMES)),
        ("name__iexact", lambda r: _case(r, r.choice(NAMES))),
        ("name__in", lambda r: r.sample(NAMES, 3)),
        ("name__startswith", lambda r: r.choice(NAMES)[:1]),
        ("name__icontains", lambda r: r.choice("aeiouy")),
        ("name_lower", lambda r: r.choice(NAMES).lower()),
        ("name_lower__startswith", lambda r: r.choice("abcdefghij")),
        ("age", lambda r: r.randint(0, 9)),
        ("age__lt", lambda r: r.randint(0, 9)),
        ("age__gte", lambda r: r.randint(0, 9)),
        ("age__range", lambda r: sorted([r.randint(0, 9), r.randint(0, 9)])),
        ("age__isnull", lambda r: r.random() < 0.5),
        ("age__in", lambda r: r.sample(range(10), 3)),
        ("born__year", lambda r: r.choice([2022, 2023, 2024])),
        ("born__lte", rand_date),
        ("born__month__gte", lambda r: r.randint(1, 3)),
        ("born__isnull", lambda r: r.random() < 0.5),
        ("score__gte", rand_score),
        ("score", rand_score),
        ("score__isnull", lambda r: r.random() < 0.5),
        ("data__k", lambda r: r.randint(0, 3)),
        ("data__tag", lambda r: r.choice(["x", "y"])),
        ("data__isnull", lambda r: r.random() < 0.5),
        ("data__has_key", lambda r: r.choice(["k", "tag"])),
        ("active", lambda r: r.random() < 0.5),
        ("level", lambda r: r.randint(1, 3)),
        ("level__gt", lambda r: r.randint(0, 2)),
        ("posts__rank__gte", lambda r: r.randint(0, 9)),
        ("posts__tags__name", lambda r: r.choice(TAGS)),
        ("profile__bio", lambda r: r.choice(BIOS)),
        ("profile__isnull", lambda r: r.random() < 0.5),
        ("edited__title__startswith", lambda r: r.choice(TITLES)[:2]),
        ("pk__in", lambda r: r.sample(range(1, 12), 4)),
    ],
    "Post": [
        ("title", lambda r: r.choice(TITLES)),
        ("title__contains", lambda r: r.choice("aelt")),
        ("title__istartswith", lambda r: r.choice(TITLES)[:1]),
        ("rank", lambda r: r.randint(0, 9)),
        ("rank__gt", lambda r: r.randint(0, 9)),
        ("rank__lte", lambda r: r.randint(0, 9)),
        ("rank__range", lambda r: sorted([r.randint(0, 9), r.randint(0, 9)])),
        ("double_rank", lambda r: 2 * r.randint(0, 9)),
        ("double_rank__gte", lambda r: r.randint(0, 18)),
        ("day__year", lambda r: r.choice([2022, 2023, 2024])),
        ("day__gte", rand_date),
        ("day__isnull", lambda r: r.random() < 0.5),
        ("published__isnull", lambda r: r.random() < 0.5),
        ("published__date__gte", rand_date),
        ("author_id", lambda r: r.randint(1, 8)),
        ("author_id__in", lambda r: r.sample(range(1, 10), 3)),
        ("author__name", lambda r: r.choice(NAMES)),
        ("author__age__gte", lambda r: r.randint(0, 9)),
        ("author__name_lower__startswith", lambda r: r.choice("abcdefghij")),
        ("author__profile__bio", lambda r: r.choice(BIOS)),
        ("editor__isnull", lambda r: r.random() < 0.5),
        ("editor__name", lambda r: r.choice(NAMES)),
        ("editor_id", lambda r: r.randint(1, 8)),
        ("tags__name", lambda r: r.choice(TAGS)),
        ("tags__name__in", lambda r: r.sample(TAGS, 2)),
        ("tags__isnull", lambda r: r.random() < 0.5),
    ],
    "Tag": [
        ("name", lambda r: r.choice(TAGS)),
        ("name__in", lambda r: r.sample(TAGS, 2)),
        ("name__startswith", lambda r: r.choice("rgbCx")),
        ("posts__rank__gt", lambda r: r.randint(0, 9)),
        ("posts__author__name", lambda r: r.choice(NAMES)),
        ("posts__isnull", lambda r: r.random() < 0.5),
    ],
    "Profile": [
        ("bio", lambda r: r.choice(BIOS)),
        ("bio__startswith", lambda r: r.choice("pP")),
        ("pk__in", lambda r: r.sample(range(1, 12), 4)),
        ("author__age__lte", lambda r: r.randint(0, 9)),
        ("author__name", lambda r: r.choice(NAMES)),
    ],
    "Place": [
        ("name", lambda r: r.choice(NAMES)),
        ("city", lambda r: r.choice(CITIES)),
        ("city__iexact", lambda r: _case(r, r.choice(CITIES))),
        ("restaurant__rating__gte", lambda r: r.randint(0, 5)),
        ("restaurant__isnull", lambda r: r.random() < 0.5),
        ("restaurant__serves_pizza", lambda r: r.random() < 0.5),
    ],
    "Restaurant": [
        ("serves_pizza", lambda r: r.random() < 0.5),
        ("rating__lt", lambda r: r.randint(0, 5)),
        ("rating__isnull", lambda r: r.random() < 0.5),
        ("name", lambda r: r.choice(NAMES)),
        ("city", lambda r: r.choice(CITIES)),
    ],
}
ORDERINGS: dict[str, list[str]] = {
    "Author": ["name", "-age", "score", "-born", "name_lower", "level", "-active"],
    "Post": ["-rank", "title", "double_rank", "-day", "author__name", "published"],
    "Tag": ["name", "-name"],
    "Profile": ["bio", "-author__age"],
    "Place": ["city", "-name"],
    "Restaurant": ["-rating", "name", "city"],
}
VALUES: dict[str, list[str]] = {
    "Author": ["name", "age", "score", "born", "data", "name_lower", "level", "active", "profile__bio"],
    "Post": ["title", "rank", "double_rank", "day", "published", "author__name", "editor__name", "author_id"],
    "Tag": ["name", "posts__title"],
    "Profile": ["bio", "author__name", "author__level"],
    "Place": ["name", "city", "restaurant__rating"],
    "Restaurant": ["name", "city", "rating", "serves_pizza"],
}
SELECT_RELATED: dict[str, list[str]] = {
    "Post": ["author", "editor", "author__profile"],
    "Profile": ["author"],
    "Author": ["profile"],
    "Restaurant": ["place_ptr"],
    "Place": ["restaurant"],
}
PREFETCH: dict[str, list[str]] = {"Post": ["tags"], "Author": ["posts", "edited"], "Tag": ["posts"]}
NUMERIC: dict[str, list[str]] = {
    "Author": ["age", "score", "level"],
    "Post": ["rank", "double_rank"],
    "Restaurant": ["rating"],
}


def jsonable(value: Any) -> Any:
    """``value`` with Decimals, dates and datetimes as strings (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (decimal.Decimal, datetime.date, datetime.datetime)):
        return str(value)
    return value


def row(obj: models.Model) -> dict[str, Any]:
    """Every concrete field of ``obj`` (by attname), as JSON."""
    return {f.attname: jsonable(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


# --- drawing specs ---------------------------------------------------------------------------


def _lookups(rng: random.Random, model: str, count: int) -> list[list[Any]]:
    return [[path, gen(rng)] for path, gen in rng.sample(LOOKUPS[model], count)]


def _where(rng: random.Random, model: str) -> Spec:
    """A random WHERE: filter lookups, and maybe an exclude, a Q OR, a negated Q."""
    where: Spec = {"filter": _lookups(rng, model, rng.choice([0, 1, 1, 2]))}
    if rng.random() < 0.2:
        where["exclude"] = _lookups(rng, model, 1)
    if rng.random() < 0.2:
        where["or"] = _lookups(rng, model, 2)
    if rng.random() < 0.15:
        where["not"] = _lookups(rng, model, 1)
    return where


def _order(rng: random.Random, model: str) -> list[str]:
    return [*rng.sample(ORDERINGS[model], rng.choice([0, 1, 2])), "pk"]


def _slice(rng: random.Random) -> list[int] | None:
    if rng.random() < 0.5:
        return None
    start = rng.choice([0, 0, 1, 2])
    return [start, start + rng.randint(1, 3)]


def _spec_rows(rng: random.Random) -> Spec:
    model = rng.choice(list(MODELS))
    spec: Spec = {"kind": "rows", "model": model, **_where(rng, model), "order": _order(rng, model)}
    spec["slice"] = _slice(rng)
    spec["out"] = rng.choice(["objects", "objects", "values", "values_list", "count", "exists", "first"])
    if spec["out"] in ("values", "values_list"):
        spec["fields"] = rng.sample(VALUES[model], rng.randint(1, min(3, len(VALUES[model]))))
        spec["distinct"] = rng.random() < 0.3
    if spec["out"] in ("objects", "first") and model in SELECT_RELATED and rng.random() < 0.6:
        spec["select_related"] = rng.sample(SELECT_RELATED[model], 1)
    if spec["out"] == "objects" and model in PREFETCH and rng.random() < 0.4:
        spec["prefetch"] = rng.sample(PREFETCH[model], 1)
    return spec


def _spec_aggregate(rng: random.Random) -> Spec:
    model = rng.choice(list(NUMERIC))
    return {
        "kind": "aggregate",
        "model": model,
        **_where(rng, model),
        "func": rng.choice(["Sum", "Max", "Min", "Count", "Avg"]),
        "field": rng.choice(NUMERIC[model]),
    }


def _spec_annotate(rng: random.Random) -> Spec:
    """Count of related rows, or an F expression, filtered and/or ordered by the annotation."""
    model, related = rng.choice([("Author", "posts"), ("Author", "edited"), ("Tag", "posts"), ("Post", "tags")])
    spec: Spec = {"kind": "annotate_count", "model": model, "related": related, **_where(rng, model)}
    if rng.random() < 0.5:
        spec = {"kind": "annotate_f", "model": "Post", **_where(rng, "Post")}
        spec["expr"] = rng.choice(["rank+author__age", "double_rank-rank", "author__level*rank"])
    spec["min"] = rng.choice([None, 0, 1, 2])
    spec["order_by_annotation"] = rng.random() < 0.6
    spec["slice"] = _slice(rng)
    return spec


def _spec_window(rng: random.Random) -> Spec:
    model = rng.choice(["Post", "Author"])
    return {
        "kind": "window",
        "model": model,
        **_where(rng, model),
        "func": rng.choice(["Count", "Sum", "RowNumber"]),
        "partition": rng.random() < 0.4,
        "slice": rng.choice([[0, 2], [0, 1], [1, 3], None]),
    }


def _spec_subquery(rng: random.Random) -> Spec:
    return {
        "kind": "subquery",
        "form": rng.choice(["latest_title", "exists", "in", "order_by_subquery", "order_by_count", "count_in"]),
        "outer": _where(rng, "Author"),
        "inner": _where(rng, "Post"),
        "slice": rng.choice([None, [0, 3], [1, 4]]),
    }


def _spec_raw(rng: random.Random) -> Spec:
    table, pk, column = rng.choice(
        [("recall_post", "id", "rank"), ("recall_author", "id", "age"), ("recall_restaurant", "place_ptr_id", "rating")]
    )
    return {
        "kind": "raw",
        "form": rng.choice(["cursor", "manager"]) if table == "recall_author" else "cursor",
        "table": table,
        "pk": pk,
        "column": column,
        "min": rng.randint(0, 5),
    }


# Shapes of ORM query that read other rows, or other columns, than a plain filter does: each one a
# way tracking.py could misjudge what a query read: (name, weight).
SHAPES: list[tuple[str, int]] = [
    ("f_compare", 2),
    ("exclude_related", 2),
    ("alias_filter", 2),
    ("case_when", 2),
    ("coalesce", 1),
    ("in_sliced", 2),
    ("combinator", 2),
    ("values_distinct_joined", 1),
    ("order_related_slice", 2),
    ("extra", 2),
    ("rawsql_annotation", 1),
    ("iterator", 1),
    ("prefetch_queryset", 2),
    ("reverse_one_to_one", 1),
    ("mti_access", 1),
    ("editor_null", 1),
]
# extra(select=...)/RawSQL texts: correlated counts of other rows of the same or another table, in
# the spellings people write (lower case, comma joins), which only the SQL text names.
EXTRA_SELECTS = [
    "SELECT COUNT(*) FROM recall_post p2 WHERE p2.author_id = recall_post.author_id",
    "select count(*) from recall_post p2 where p2.author_id = recall_post.author_id",
    "select count(*) from recall_author a2, recall_post p2 where a2.id = p2.author_id"
    " and p2.author_id = recall_post.author_id",
    "select count(*) from recall_post_tags t where t.post_id = recall_post.id",
]
EXTRA_WHERES = [
    "recall_post.rank > %s",
    "recall_post.author_id in (select p2.author_id from recall_post p2 where p2.rank > %s)",
    "recall_post.id in (select post_id from recall_post_tags where tag_id > %s)",
]
IN_SLICE_ORDERS = [["-rank", "pk"], ["author__name", "pk"], ["-author__age", "pk"], ["title", "-pk"]]
RELATED_ORDERS = [
    ["author__name", "pk"],
    ["-author__age", "-pk"],
    ["editor__name", "pk"],
    ["author__profile__bio", "pk"],
    ["-editor__level", "title", "pk"],
]


def _spec_shape(rng: random.Random) -> Spec:
    """One of :data:`SHAPES` (kind ``"shape"``): F() comparisons, exclude() across relations, alias()
    filters, Case/When, Coalesce, sliced ``__in`` subqueries, combinators, extra(), iterator(), Prefetch
    querysets, reverse one-to-one and multi-table inheritance access, nullable foreign keys."""
    shape = rng.choices([name for name, _ in SHAPES], [weight for _, weight in SHAPES])[0]
    model = "Author" if shape in ("coalesce", "reverse_one_to_one") else "Post"
    if shape in ("exclude_related", "alias_filter", "prefetch_queryset"):
        model = rng.choice(["Author", "Post", "Tag"] if shape == "exclude_related" else ["Author", "Post"])
    if shape == "mti_access":
        model = rng.choice(["Place", "Restaurant"])
    spec: Spec = {"kind": "shape", "shape": shape, "model": model, **_where(rng, model)}
    spec["k"] = rng.randint(0, 9)
    spec["slice"] = _slice(rng)
    spec["variant"] = rng.randint(0, 3)
    if shape == "in_sliced":
        spec["inner"] = _where(rng, "Post")
        spec["order"] = rng.choice(IN_SLICE_ORDERS)
        spec["slice"] = rng.choice([[0, 2], [0, 3], [1, 3]])
    elif shape == "combinator":
        spec["other"] = _where(rng, "Post")
        spec["combinator"] = rng.choice(["union", "intersection", "difference"])
    elif shape == "order_related_slice":
        spec["order"] = rng.choice(RELATED_ORDERS)
        spec["select_related"] = rng.random() < 0.5
        spec["slice"] = rng.choice([[0, 2], [0, 3], [1, 4], None])
    elif shape == "extra":
        spec["variant"] = rng.randrange(len(EXTRA_SELECTS) + len(EXTRA_WHERES))
    elif shape == "rawsql_annotation":
        spec["variant"] = rng.randrange(len(EXTRA_SELECTS))
    elif shape == "iterator":
        spec["order"] = _order(rng, "Post")
        spec["chunk"] = rng.choice([1, 2, 3, 100])
        spec["take"] = rng.choice([None, 1, 2, 4])
    return spec


DRAWS: list[tuple[Callable[[random.Random], Spec], int]] = [
    (_spec_rows, 8),
    (_spec_aggregate, 2),
    (_spec_annotate, 2),
    (_spec_window, 2),
    (_spec_subquery, 3),
    (_spec_raw, 1),
    (_spec_shape, 6),
]


def spec_name(spec: Spec) -> str:
    """A short name of what ``spec`` runs (``shape extra Post``), for grouping problems."""
    return " ".join(str(part) for part in (spec["kind"], spec.get("shape"), spec.get("model")) if part)


def random_spec(rng: random.Random) -> Spec:
    draw = rng.choices([d for d, _ in DRAWS], [w for _, w in DRAWS])[0]
    return draw(rng)


# --- building and running specs --------------------------------------------------------------


def _q(lookups: list[list[Any]]) -> Q:
    return Q(**{path: value for path, value in lookups})


def _filtered(model: str, spec: Spec) -> models.QuerySet[Any]:
    qs = MODELS[model].objects.filter(_q(spec.get("filter", [])))
    if spec.get("exclude"):
        qs = qs.exclude(_q(spec["exclude"]))
    if spec.get("or"):
        first, second = spec["or"]
        qs = qs.filter(Q(**{first[0]: first[1]}) | Q(**{second[0]: second[1]}))
    if spec.get("not"):
        qs = qs.filter(~_q(spec["not"]))
    return qs.distinct() if _multivalued(spec) else qs


def _multivalued(spec: Spec) -> bool:
    """Does the WHERE join a reverse FK or M2M (rows may repeat)?"""
    paths = [lookup[0] for key in ("filter", "exclude", "or", "not") for lookup in spec.get(key, [])]
    return any(p.split("__")[0] in ("posts", "tags", "edited") for p in paths)


def _sliced(qs: Any, bounds: list[int] | None) -> Any:
    return qs if bounds is None else qs[bounds[0] : bounds[1]]


def _object(obj: models.Model, spec: Spec) -> dict[str, Any]:
    value = row(obj)
    for path in spec.get("select_related", []):
        related: Any = obj
        for part in path.split("__"):
            related = getattr(related, part, None) if related is not None else None
        value[path] = row(related) if related is not None else None
    for name in spec.get("prefetch", []):
        value[name] = sorted(row(o)["id"] for o in getattr(obj, name).all())
    return value


def _run_rows(spec: Spec) -> Any:
    qs = _filtered(spec["model"], spec).order_by(*spec["order"])
    out = spec["out"]
    if out in ("values", "values_list"):
        fields = spec["fields"]
        qs = qs.values(*fields) if out == "values" else qs.values_list(*fields, flat=len(fields) == 1)
        if spec.get("distinct"):
            # DISTINCT with the order's columns would not be distinct rows; order by the fields.
            qs = qs.distinct().order_by(*fields)
        return jsonable(list(_sliced(qs, spec["slice"])))
    if spec.get("select_related"):  # select_related() without fields means every relation (deprecated in 6.1)
        qs = qs.select_related(*spec["select_related"])
    qs = qs.prefetch_related(*spec.get("prefetch", []))
    if out == "count":
        return _sliced(qs, spec["slice"]).count()
    if out == "exists":
        return _sliced(qs, spec["slice"]).exists()
    if out == "first":
        obj = qs.first()
        return None if obj is None else _object(obj, spec)
    return [_object(o, spec) for o in _sliced(qs, spec["slice"])]


AGGREGATES = {"Sum": Sum, "Max": Max, "Min": Min, "Count": Count, "Avg": Avg}


def _run_aggregate(spec: Spec) -> Any:
    result = _filtered(spec["model"], spec).aggregate(v=AGGREGATES[spec["func"]](spec["field"]))["v"]
    return jsonable(round(result, 6) if isinstance(result, float) else result)


def _expression(text: str) -> Any:
    for symbol, combine in (("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b)):
        if symbol in text:
            left, right = text.split(symbol)
            return combine(F(left), F(right))
    raise ValueError(text)


def _run_annotate(spec: Spec) -> Any:
    qs = _filtered(spec["model"], spec)
    if spec["kind"] == "annotate_count":
        qs = qs.annotate(n=Count(spec["related"], distinct=True))
    else:
        qs = qs.annotate(n=_expression(spec["expr"]))
    if spec["min"] is not None:
        qs = qs.filter(n__gte=spec["min"])
    qs = qs.order_by("-n", "pk") if spec["order_by_annotation"] else qs.order_by("pk")
    return [[o.pk, jsonable(o.n)] for o in _sliced(qs, spec["slice"])]


def _run_window(spec: Spec) -> Any:
    partition = [F("author_id")] if spec["partition"] and spec["model"] == "Post" else None
    if spec["func"] == "RowNumber":
        window = Window(RowNumber(), partition_by=partition, order_by=F("pk").asc())
    else:
        window = Window(AGGREGATES[spec["func"]]("pk"), partition_by=partition)
    qs = _filtered(spec["model"], spec).annotate(w=window).order_by("pk")
    return [[o.pk, jsonable(o.w)] for o in _sliced(qs, spec["slice"])]


def _run_subquery(spec: Spec) -> Any:
    inner = _filtered("Post", spec["inner"])
    outer = _filtered("Author", spec["outer"])
    form = spec["form"]
    if form == "latest_title":
        latest = inner.filter(author=OuterRef("pk")).order_by("-rank", "pk").values("title")[:1]
        qs = outer.annotate(t=Subquery(latest)).order_by("pk")
        return [[a.pk, a.t] for a in _sliced(qs, spec["slice"])]
    if form == "exists":
        qs = outer.filter(Exists(inner.filter(author=OuterRef("pk")))).order_by("pk")
    elif form == "in":
        qs = outer.filter(pk__in=inner.values("editor_id")).order_by("pk")
    elif form == "order_by_subquery":
        top = inner.filter(author=OuterRef("pk")).order_by("-rank", "pk").values("rank")[:1]
        qs = outer.order_by(Subquery(top).desc(nulls_last=True), "pk")
    elif form == "order_by_count":
        qs = outer.alias(n=Count("posts")).order_by("-n", "pk")
    else:
        return Post.objects.filter(author__in=outer).filter(pk__in=inner.values("pk")).count()
    return [a.pk for a in _sliced(qs, spec["slice"])]


def _run_raw(spec: Spec) -> Any:
    pk, column = spec["pk"], spec["column"]
    sql = f"SELECT {pk}, {column} FROM {spec['table']} WHERE {column} >= %s ORDER BY {pk}"
    if spec["form"] == "manager":
        return [[a.pk, a.age] for a in Author.objects.raw(sql, [spec["min"]])]
    with connection.cursor() as cursor:
        cursor.execute(sql, [spec["min"]])
        return [list(r) for r in cursor.fetchall()]


def _ids(qs: Any) -> list[Any]:
    return jsonable(list(qs))


def _shape_f_compare(spec: Spec, qs: Any) -> Any:
    condition = [
        Q(rank__gt=F("author__age")),
        Q(double_rank__lte=F("rank") + spec["k"]),
        Q(author__level__gte=F("rank")),
        Q(editor__age__lt=F("author__age")),
    ][spec["variant"]]
    return _ids(_sliced(qs.filter(condition).order_by("pk").values_list("pk", "rank"), spec["slice"]))


def _shape_exclude_related(spec: Spec, qs: Any) -> Any:
    k, model = spec["k"], spec["model"]
    excluded = {
        "Author": [Q(posts__tags__name=TAGS[k % 4]), Q(posts__rank__gte=k), Q(edited__title=TITLES[k % 5])],
        "Post": [Q(tags__name=TAGS[k % 4]), Q(editor__name=NAMES[k]), Q(author__profile__bio=BIOS[k % 4])],
        "Tag": [Q(posts__author__age__gte=k), Q(posts__rank=k), Q(posts__editor__isnull=True)],
    }[model]
    qs = qs.exclude(excluded[spec["variant"] % len(excluded)]).order_by("pk")
    return _ids(_sliced(qs.values_list("pk", flat=True), spec["slice"]))


def _shape_alias_filter(spec: Spec, qs: Any) -> Any:
    k = spec["k"]
    if spec["model"] == "Author":
        alias = [Count("posts"), Coalesce("age", "level"), Max("posts__rank"), Count("edited__tags")]
        qs = qs.alias(m=alias[spec["variant"]]).filter(m__gte=k % 4)
    else:
        alias = [F("author__age"), F("rank") + F("author__level"), Coalesce("editor__age", Value(-1)), Count("tags")]
        qs = qs.alias(m=alias[spec["variant"]]).filter(m__gte=k - 2)
    return _ids(_sliced(qs.order_by("pk").values_list("pk", flat=True), spec["slice"]))


def _shape_case_when(spec: Spec, qs: Any) -> Any:
    k = spec["k"]
    bucket = Case(
        When(rank__gte=k, then=Value("hi")),
        When(author__age__isnull=True, then=Value("none")),
        When(Exists(Tag.objects.filter(posts=OuterRef("pk"), name=TAGS[k % 4])), then=Value("tagged")),
        default=Value("lo"),
    )
    qs = qs.annotate(b=bucket)
    if spec["variant"] % 2:
        qs = qs.filter(b__in=["hi", "tagged"])
    qs = qs.order_by("b", "pk") if spec["variant"] < 2 else qs.order_by("pk")
    return _ids(_sliced(qs.values_list("pk", "b"), spec["slice"]))


def _shape_coalesce(spec: Spec, qs: Any) -> Any:
    value = [
        Coalesce("age", "level"),
        Coalesce("profile__bio", Value("-")),
        Coalesce(Max("posts__rank"), Value(-1)),
        Coalesce(Subquery(Post.objects.filter(editor=OuterRef("pk")).order_by("-rank", "pk").values("rank")[:1]), 0),
    ][spec["variant"]]
    qs = qs.annotate(c=value).order_by("c", "pk") if spec["variant"] != 1 else qs.annotate(c=value).order_by("pk")
    return _ids(_sliced(qs.values_list("pk", "c"), spec["slice"]))


def _shape_in_sliced(spec: Spec, qs: Any) -> Any:
    bounds = spec["slice"]
    inner = _filtered("Post", spec["inner"]).order_by(*spec["order"])
    column = ["author_id", "pk", "editor_id", "pk"][spec["variant"]]
    if column == "pk":
        subquery = inner.values("pk")[bounds[0] : bounds[1]]
        return _ids(qs.filter(pk__in=subquery).order_by("pk").values_list("pk", flat=True))
    subquery = inner.values(column)[bounds[0] : bounds[1]]
    return _ids(Author.objects.filter(pk__in=subquery).order_by("pk").values_list("pk", flat=True))


def _shape_combinator(spec: Spec, qs: Any) -> Any:
    other = _filtered("Post", spec["other"])
    fields = ["pk", "title"] if spec["variant"] % 2 else ["pk"]
    combined = getattr(qs.order_by().values_list(*fields), spec["combinator"])(other.order_by().values_list(*fields))
    ordered = combined.order_by(*(["-pk"] if spec["variant"] < 2 else ["pk"]))
    return _ids(_sliced(ordered, spec["slice"]))


def _shape_values_distinct_joined(spec: Spec, qs: Any) -> Any:
    fields = [
        ["author__name", "tags__name"],
        ["editor__name"],
        ["author__profile__bio", "title"],
        ["tags__name", "author__level"],
    ][spec["variant"]]
    return _ids(_sliced(qs.values_list(*fields).distinct().order_by(*fields), spec["slice"]))


def _shape_order_related_slice(spec: Spec, qs: Any) -> Any:
    qs = qs.order_by(*spec["order"])
    if spec["select_related"]:
        qs = qs.select_related("author", "editor")
        return [[o.pk, o.author.name, o.editor.name if o.editor else None] for o in _sliced(qs, spec["slice"])]
    return _ids(_sliced(qs.values_list("pk", flat=True), spec["slice"]))


def _shape_extra(spec: Spec, qs: Any) -> Any:
    variant = spec["variant"]
    if variant < len(EXTRA_SELECTS):
        qs = qs.extra(select={"n": EXTRA_SELECTS[variant]}).order_by("pk")
        return [[o.pk, o.n] for o in _sliced(qs, spec["slice"])]
    where = EXTRA_WHERES[variant - len(EXTRA_SELECTS)]
    qs = qs.extra(where=[where], params=[spec["k"] % 6]).order_by("pk")
    return [o.pk for o in _sliced(qs, spec["slice"])]


def _shape_rawsql_annotation(spec: Spec, qs: Any) -> Any:
    qs = qs.annotate(n=RawSQL(EXTRA_SELECTS[spec["variant"]], [])).order_by("pk")
    return [[o.pk, o.n] for o in _sliced(qs, spec["slice"])]


def _shape_iterator(spec: Spec, qs: Any) -> Any:
    found = []
    for post in qs.order_by(*spec["order"]).iterator(chunk_size=spec["chunk"]):
        if spec["take"] is not None and len(found) == spec["take"]:
            break
        found.append([post.pk, post.rank, post.title])
    return found


def _shape_prefetch_queryset(spec: Spec, qs: Any) -> Any:
    k = spec["k"]
    if spec["model"] == "Author":
        inner = Post.objects.filter(rank__gte=k % 6).order_by("-rank", "pk")
        if spec["variant"] % 2:
            inner = inner[:2]  # a sliced Prefetch: a window over the partition
        prefetch = Prefetch("posts", queryset=inner, to_attr="got")
    else:
        inner = Tag.objects.filter(name__in=[TAGS[k % 4], TAGS[(k + 1) % 4]]).order_by("name")
        if spec["variant"] % 2:
            inner = Tag.objects.filter(posts__author__age__gte=k).distinct().order_by("-name")
        prefetch = Prefetch("tags", queryset=inner, to_attr="got")
    qs = qs.prefetch_related(prefetch).order_by("pk")
    return [[o.pk, [r.pk for r in o.got]] for o in _sliced(qs, spec["slice"])]


def _shape_reverse_one_to_one(spec: Spec, qs: Any) -> Any:
    found = []
    for author in _sliced(qs.order_by("pk"), spec["slice"]):
        try:
            bio: Any = author.profile.bio
        except Profile.DoesNotExist:
            bio = None
        found.append([author.pk, bio, author.profile.author.name if bio is not None else None])
    return found


def _shape_mti_access(spec: Spec, qs: Any) -> Any:
    found = []
    for obj in _sliced(qs.order_by("pk"), spec["slice"]):
        if isinstance(obj, Restaurant):
            found.append([obj.pk, obj.place_ptr.city, obj.rating])
            continue
        try:
            rating: Any = obj.restaurant.rating
        except Restaurant.DoesNotExist:
            rating = "none"
        found.append([obj.pk, obj.city, rating])
    return found


def _shape_editor_null(spec: Spec, qs: Any) -> Any:
    condition = [
        Q(editor__isnull=True),
        Q(editor__isnull=True, author__age__gte=spec["k"]),
        Q(editor__age__isnull=True),
        Q(editor__isnull=False, editor__name__in=NAMES[:5]),
    ][spec["variant"]]
    return _ids(_sliced(qs.filter(condition).order_by("pk").values_list("pk", "editor_id"), spec["slice"]))


SHAPE_RUNNERS: dict[str, Callable[[Spec, Any], Any]] = {name: globals()[f"_shape_{name}"] for name, _weight in SHAPES}


def _run_shape(spec: Spec) -> Any:
    return SHAPE_RUNNERS[spec["shape"]](spec, _filtered(spec["model"], spec))


RUNNERS: dict[str, Callable[[Spec], Any]] = {
    "rows": _run_rows,
    "aggregate": _run_aggregate,
    "annotate_count": _run_annotate,
    "annotate_f": _run_annotate,
    "window": _run_window,
    "subquery": _run_subquery,
    "raw": _run_raw,
    "shape": _run_shape,
}


def evaluate(spec: Spec) -> Any:
    """Run ``spec`` and return its value as JSON (stable order)."""
    return RUNNERS[spec["kind"]](spec)

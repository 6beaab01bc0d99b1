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
from django.db.models import Avg, Count, Exists, F, Max, Min, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import RowNumber

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


DRAWS: list[tuple[Callable[[random.Random], Spec], int]] = [
    (_spec_rows, 8),
    (_spec_aggregate, 2),
    (_spec_annotate, 2),
    (_spec_window, 2),
    (_spec_subquery, 3),
    (_spec_raw, 1),
]


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
    qs = qs.select_related(*spec.get("select_related", [])).prefetch_related(*spec.get("prefetch", []))
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


RUNNERS: dict[str, Callable[[Spec], Any]] = {
    "rows": _run_rows,
    "aggregate": _run_aggregate,
    "annotate_count": _run_annotate,
    "annotate_f": _run_annotate,
    "window": _run_window,
    "subquery": _run_subquery,
    "raw": _run_raw,
}


def evaluate(spec: Spec) -> Any:
    """Run ``spec`` and return its value as JSON (stable order)."""
    return RUNNERS[spec["kind"]](spec)

"""Each class of missed write found from outside, and the install-safety of capture.

A missed write is a committed write that changes a query's result while the write-sets the commit published do
not affect the read-set the query recorded. Every test here runs a read under tracking, makes one write, checks
that the write changed the result, and that the published write-sets affect the read-set.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery, Window
from django.db.models.expressions import RawSQL
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from reactive.capture import patches
from reactive.capture.sqltext import calls_unknown_function, is_write_sql, statements
from reactive.capture.tracking import tracked
from reactive.commitlog import commits
from reactive.errors import ReadOnlyError
from reactive.models import CommitClock
from reactive.readsets import readset_affected
from tests.recall.models import Author, Edition, Place, Post, Profile, Restaurant, Tag

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a PostgreSQL feature (runs in the PostgreSQL pass of make test)"
)
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="an SQLite feature (runs in the SQLite pass)")


def assert_seen(read: Callable[[], Any], write: Callable[[], None], *, changes: bool = True) -> None:
    """``write`` changes what ``read`` returns (when ``changes``), and its write-sets affect ``read``'s read-set."""
    with tracked() as collector:
        before = read()
    start = commits.current_ts()
    write()
    writes = commits.committed_writes(connection, start, commits.current_ts())
    assert writes is not None
    after = read()
    if changes:
        assert before != after, "the write was meant to change the result"
    assert readset_affected(collector.readset, writes), (before, after, collector.readset.tables, writes)


def authors(**filters: Any) -> Callable[[], list[str]]:
    """Model instances: the read tracks the pks it received (the narrowest read-set)."""
    return lambda: sorted(author.name for author in Author.objects.filter(**filters))


# --- 1. upserts -------------------------------------------------------------------------------


def test_an_upsert_that_updates_a_row_has_an_unknown_old_image() -> None:
    Author.objects.create(name="bob", age=4)
    assert_seen(
        lambda: list(Author.objects.filter(age=4).values_list("name", flat=True)),  # no pks: old images matter
        lambda: Author.objects.bulk_create(
            [Author(name="bob", age=3)], update_conflicts=True, unique_fields=["name"], update_fields=["age"]
        ),
    )


def test_an_upsert_seen_by_a_pk_tracked_read() -> None:
    bob = Author.objects.create(name="bob", age=4)
    assert_seen(
        lambda: [(a.pk, a.age) for a in Author.objects.filter(pk=bob.pk)],
        lambda: Author.objects.bulk_create(
            [Author(name="bob", age=9)], update_conflicts=True, unique_fields=["name"], update_fields=["age"]
        ),
    )


def test_update_or_create_updating_after_losing_the_race_to_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """update_or_create's create fails on the unique name (another writer won), then it updates that row."""
    Author.objects.create(name="ann", age=1)
    real_get = QuerySet.get
    calls = []

    def get_after_losing(self: QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        if self.model is Author and len(calls) == 1:
            raise Author.DoesNotExist  # the first lookup ran before the other writer committed
        return real_get(self, *args, **kwargs)

    def write() -> None:
        monkeypatch.setattr(QuerySet, "get", get_after_losing)
        Author.objects.update_or_create(name="ann", defaults={"age": 7})
        monkeypatch.undo()

    assert_seen(authors(age=7), write)
    assert len(calls) == 2  # the create failed and rolled back to its savepoint, then the update ran


# --- 2. write images hold the stored value ---------------------------------------------------------


@pytest.fixture
def post() -> Post:
    author = Author.objects.create(name="ann")
    return Post.objects.create(author=author, title="t", rank=1, day=datetime.date(2024, 1, 1))


def posts(**filters: Any) -> Callable[[], list[str]]:
    return lambda: sorted(post.title for post in Post.objects.filter(**filters))


def test_a_number_given_as_a_string(post: Post) -> None:
    def write() -> None:
        post.rank = "6"  # type: ignore[assignment]
        post.save(update_fields=["rank"])

    assert_seen(posts(rank=6), write)


def test_a_date_given_as_a_string(post: Post) -> None:
    assert_seen(posts(day=datetime.date(2024, 1, 2)), lambda: Post.objects.filter(pk=post.pk).update(day="2024-01-02"))


def test_a_foreign_key_given_as_a_string(post: Post) -> None:
    other = Author.objects.create(name="bob")
    assert_seen(posts(author=other), lambda: Post.objects.filter(pk=post.pk).update(author=str(other.pk)))


def test_a_float_into_a_decimal_field() -> None:
    assert_seen(authors(score=decimal.Decimal("2.50")), lambda: Author.objects.create(name="cy", score=2.5))


def test_a_decimal_the_database_may_round() -> None:
    """PostgreSQL stores 2.499 as 2.50 (decimal_places=2); SQLite keeps 2.499: the column is left out either way."""
    rounds = connection.vendor == "postgresql"
    assert_seen(
        authors(score=decimal.Decimal("2.50")),
        lambda: Author.objects.create(name="cy", score=decimal.Decimal("2.499")),
        changes=rounds,
    )


def test_a_datetime_given_as_a_string(post: Post) -> None:
    moment = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    assert_seen(
        posts(published=moment), lambda: Post.objects.filter(pk=post.pk).update(published="2024-05-01T12:00:00Z")
    )


# --- 3. database-computed columns ------------------------------------------------------------------


def test_a_generated_column_changes_with_its_source(post: Post) -> None:
    assert_seen(posts(double_rank=10), lambda: Post.objects.filter(double_rank=2).update(rank=5))


def test_a_generated_column_of_a_new_row() -> None:
    assert_seen(authors(name_lower="dee"), lambda: Author.objects.create(name="DEE"))


def test_a_database_default() -> None:
    assert_seen(authors(level=1), lambda: Author.objects.create(name="eve"))


# --- 4. nested queries in ORDER BY -----------------------------------------------------------------


def test_a_subquery_in_order_by_is_a_read() -> None:
    """Post is read by the join (title = 'x') and by the ORDER BY's subquery (the best rank of any title)."""
    first, second = Author.objects.create(name="a1"), Author.objects.create(name="a2")
    for author, ranks in ((first, (1, 5)), (second, (3, 2))):
        Post.objects.create(author=author, title="x", rank=ranks[0])
        Post.objects.create(author=author, title="y", rank=ranks[1])
    best = Subquery(Post.objects.filter(author=OuterRef("pk")).order_by("-rank").values("rank")[:1])

    def read() -> list[str]:
        return list(Author.objects.filter(posts__title="x").order_by(best.desc()).values_list("name", flat=True))

    assert_seen(read, lambda: Post.objects.filter(title="y", author=second).update(rank=9))


# --- 5. values that depend on rows the query did not return ----------------------------------------


def test_a_window_over_a_page(post: Post) -> None:
    last = Post.objects.create(author=post.author, title="last")

    def read() -> list[tuple[int, int]]:
        return list(Post.objects.annotate(total=Window(Count("pk"))).order_by("pk").values_list("pk", "total")[0:1])

    assert_seen(read, lambda: Post.objects.filter(pk=last.pk).delete())


def test_an_aggregate_subquery_in_the_select_list(post: Post) -> None:
    other = Post.objects.create(author=post.author, title="other", rank=3)
    top = Subquery(Post.objects.order_by("-rank").values("rank")[:1])

    def read() -> list[tuple[int, int]]:
        return list(Post.objects.filter(pk=post.pk).annotate(top=top).values_list("pk", "top"))

    assert_seen(read, lambda: Post.objects.filter(pk=other.pk).update(rank=8))


# --- 6. select_related over a one-to-one primary key --------------------------------------------


def test_creating_the_row_of_a_reverse_one_to_one() -> None:
    ann = Author.objects.create(name="ann")

    def read() -> list[tuple[str, str | None]]:
        return [
            (a.name, a.profile.bio if hasattr(a, "profile") else None) for a in Author.objects.select_related("profile")
        ]

    assert_seen(read, lambda: Profile.objects.create(author=ann, bio="poet"))


def test_ordering_by_a_joined_column(post: Post) -> None:
    """Joined rows reached by a foreign key matter beyond their pks when the SELECT is ordered by them."""
    bob = Author.objects.create(name="bob", age=1)
    Author.objects.filter(pk=post.author_id).update(age=2)
    Post.objects.create(author=bob, title="bob's")

    def read() -> list[str]:
        return [p.title for p in Post.objects.select_related("author").order_by("-author__age")[:1]]

    assert_seen(read, lambda: Author.objects.filter(pk=bob.pk).update(age=5))


def test_raw_sql_in_the_select_list_counting_other_rows(post: Post) -> None:
    """A RawSQL piece (lower case, a comma join) reads the table again: no pks, and the table is read whole."""
    Post.objects.create(author=post.author, title="zzz")
    count = "select count(*) from recall_author a2, recall_post p2 where p2.author_id = recall_post.author_id"

    def read() -> list[tuple[int, int]]:
        return [(p.pk, p.n) for p in Post.objects.filter(pk=post.pk).annotate(n=RawSQL(count, []))]

    assert_seen(read, lambda: Post.objects.filter(title="zzz").delete())


def test_a_join_the_ordering_reuses_is_a_read_though_an_unused_alias_names_its_table(post: Post) -> None:
    bob = Author.objects.create(name="bob")
    Post.objects.create(author=bob, title="bob's")
    unused = Subquery(Author.objects.filter(age__gte=5).values("pk")[:1])

    def read() -> list[str]:
        queryset = Post.objects.alias(x=unused).filter(author__id__in=[post.author_id, bob.pk])
        return [p.title for p in queryset.order_by("author__name", "pk")]

    assert_seen(read, lambda: Author.objects.filter(pk=bob.pk).update(name="aaa"))


def test_select_for_update_in_a_query_is_a_clear_error() -> None:
    with pytest.raises(ReadOnlyError, match="select_for_update"), tracked(), transaction.atomic():
        list(Tag.objects.select_for_update())


# --- 7-10. raw SQL every way a driver takes it ------------------------------------------------------


@postgres_only
def test_composed_sql() -> None:
    from psycopg import sql

    Tag.objects.create(name="red")
    statement = sql.SQL("UPDATE {} SET name = {}").format(sql.Identifier("recall_tag"), sql.Literal("blue"))

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement)

    assert_seen(lambda: list(Tag.objects.values_list("name", flat=True)), write)


@postgres_only
def test_bytes_sql() -> None:
    Tag.objects.create(name="red")

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute(b"UPDATE recall_tag SET name = 'blue'")

    assert_seen(lambda: list(Tag.objects.values_list("name", flat=True)), write)


@postgres_only
def test_copy_from_stdin() -> None:
    def write() -> None:
        with connection.cursor() as cursor, cursor.copy("COPY recall_tag (name) FROM STDIN") as copy:
            copy.write_row(["green"])

    assert_seen(lambda: list(Tag.objects.values_list("name", flat=True)), write)


@postgres_only
def test_copy_inside_a_transaction_that_rolls_back_publishes_nothing() -> None:
    start = commits.current_ts()
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor, cursor.copy("COPY recall_tag (name) FROM STDIN") as copy:
            copy.write_row(["green"])
        raise RuntimeError
    assert commits.current_ts() == start
    assert not Tag.objects.exists()


@postgres_only
def test_multi_statement_sql() -> None:
    Tag.objects.create(name="red")

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'; UPDATE recall_tag SET name = 'blue'")

    assert_seen(lambda: list(Tag.objects.values_list("name", flat=True)), write)


@postgres_only
def test_a_select_that_calls_a_function_that_writes(post: Post) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION exactness_set_rank(post_id bigint, new_rank integer) RETURNS integer AS $$"
            " BEGIN UPDATE recall_post SET rank = new_rank WHERE id = post_id; RETURN new_rank; END $$ LANGUAGE plpgsql"
        )

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT exactness_set_rank(%s, %s)", [post.pk, 9])

    assert_seen(posts(rank=9), write)


@postgres_only
def test_explain_analyze_runs_the_statement(post: Post) -> None:
    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN ANALYZE UPDATE recall_post SET rank = 9 WHERE id = %s", [post.pk])

    assert_seen(posts(rank=9), write)


@sqlite_only
def test_executescript() -> None:
    Tag.objects.create(name="red")

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.executescript("UPDATE recall_tag SET name = 'blue'; UPDATE recall_tag SET name = 'green';")

    assert_seen(lambda: list(Tag.objects.values_list("name", flat=True)), write)


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ("SET LOCAL lock_timeout = '5s'; UPDATE t SET a = 1", True),
        ("SELECT ';update t set a = 1'", False),
        ('SELECT 1 AS "a;b"; -- ; DELETE FROM t', False),
        ("SELECT $$;DELETE FROM t$$", False),
        ("SELECT 1; DELETE FROM t;", True),
        ("/* ; */ SELECT 1;;", False),
        ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", True),
        ("COPY t FROM STDIN", True),
        ("EXECUTE something", True),  # unrecognised: may write
        ("EXPLAIN ANALYZE UPDATE t SET a = 1", True),
        ("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t", True),
        ("EXPLAIN UPDATE t SET a = 1", False),
    ],
)
def test_statements_and_their_kind(sql: str, write: bool) -> None:
    assert is_write_sql(sql) is write


# --- install safety -------------------------------------------------------------------------------


def test_unfiltered_update_and_delete(post: Post) -> None:
    assert_seen(posts(rank=3), lambda: Post.objects.update(rank=3))
    assert_seen(posts(), lambda: Post.objects.all().delete())


def test_update_of_a_parent_field_through_a_child() -> None:
    Restaurant.objects.create(name="r", city="oslo")

    def read() -> list[str]:
        return list(Place.objects.filter(city="rome").values_list("name", flat=True))

    assert_seen(read, lambda: Restaurant.objects.update(city="rome"))


def _statements(run: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        run()
    return [query["sql"].split()[0].upper() for query in queries.captured_queries]


def test_the_statements_a_user_is_counted_for_are_the_same_without_reactive() -> None:
    """Each write, in autocommit mode and in a transaction, logs the same statements with reactive and without.

    Nothing of reactive's bookkeeping (the clock, the outbox, its BEGIN) is logged, and a DELETE takes its old
    images in the same statement (RETURNING), not in a SELECT before it.
    """

    def work() -> None:
        place = Place.objects.create(name="p")
        Place.objects.filter(pk=place.pk).update(city="x")
        place.delete()
        with transaction.atomic():
            Tag.objects.bulk_create([Tag(name="a"), Tag(name="b")])
            Tag.objects.filter(name="a").delete()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE recall_tag SET name = 'c' WHERE name = 'b'")

    start = commits.current_ts()
    with_reactive = _statements(work)
    assert commits.current_ts() == start + 5  # every write was captured
    Tag.objects.all().delete()
    patches.uninstall()
    try:
        without = _statements(work)
    finally:
        patches.install()
    assert with_reactive == without


def test_a_clock_set_back_never_repeats_a_commit_number() -> None:
    """A fixture, a restored backup or a test's serialized rollback may set the clock row back."""
    Tag.objects.create(name="a")
    newest = commits.current_ts()
    CommitClock.objects.update(ts=1)  # reactive's own table: not captured
    Tag.objects.create(name="b")  # before: IntegrityError on the outbox's ts
    assert commits.current_ts() == newest + 1


def test_a_composite_primary_key_row_is_written_and_seen() -> None:
    Edition.objects.create(book="b", number=1, title="first")

    def read() -> list[str]:
        return [edition.title for edition in Edition.objects.filter(book="b").order_by("number")]

    assert_seen(read, lambda: Edition.objects.create(book="b", number=2, title="second"))
    assert_seen(read, lambda: Edition.objects.filter(book="b", number=2).update(title="2nd"))
    assert_seen(read, lambda: Edition.objects.filter(number=1).delete())


def test_a_transaction_the_host_begins_with_raw_sql_is_the_hosts(post: Post) -> None:
    """Raw BEGIN ... ROLLBACK keeps nothing and publishes nothing; raw BEGIN ... COMMIT publishes once."""
    start = commits.current_ts()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        Post.objects.create(author=post.author, title="rolled back")
        cursor.execute("ROLLBACK")
    assert not Post.objects.filter(title="rolled back").exists()
    assert commits.current_ts() == start

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            Post.objects.create(author=post.author, title="committed")
            cursor.execute("COMMIT")

    assert_seen(posts(), write)
    assert commits.current_ts() == start + 1


def test_a_delete_works_when_the_table_does_not_match_the_model() -> None:
    """A column renamed under the model: the DELETE works as without reactive (and its image widens)."""
    Edition.objects.create(book="b", number=1, title="first")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE recall_edition RENAME COLUMN title TO heading")
    try:
        assert_seen(lambda: Edition.objects.filter(book="b").count(), lambda: Edition.objects.filter(book="b").delete())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE recall_edition RENAME COLUMN heading TO title")


def test_the_channel_layer_warning_is_a_deployment_check() -> None:
    from django.core import checks

    with override_settings(CHANNEL_LAYERS={}):
        assert "reactive.W002" not in {message.id for message in checks.run_checks()}  # the host's own checks
        assert "reactive.W002" in {message.id for message in checks.run_checks(include_deployment_checks=True)}


def test_a_failing_autocommit_write_publishes_nothing() -> None:
    Tag.objects.create(name="red")
    start = commits.current_ts()
    with pytest.raises(IntegrityError):
        Tag.objects.create(name="red")
    assert commits.current_ts() == start
    Tag.objects.create(name="blue")
    assert commits.current_ts() == start + 1


@pytest.mark.parametrize(
    ("sql", "calls"),
    [
        ("SELECT bump(%s)", True),
        ("SELECT COUNT(*), lower(name), COALESCE(x, 1) FROM t WHERE id IN (1, 2)", False),
        ("SELECT 'bump(1)', \"bump(\" FROM t -- bump(2)", False),
        ("SELECT pg_sleep(0), jsonb_build_array(1)", False),
        ("PRAGMA wal_checkpoint(TRUNCATE)", False),
        ("SET x = f(1); SELECT 1", False),
        ("SELECT 1; SELECT bump(2)", True),
    ],
)
def test_function_calls_that_may_write(sql: str, calls: bool) -> None:
    assert calls_unknown_function(sql) is calls


def test_statements_split_outside_quotes_and_comments() -> None:
    assert statements("SELECT 'a;b'; UPDATE t SET x = \"c;d\" -- e;f\n; ") == [
        "SELECT 'a;b'",
        ' UPDATE t SET x = "c;d" -- e;f\n',
    ]

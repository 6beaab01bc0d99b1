"""What the ORM hook records for real querysets, and what write capture records."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef

from demo_project.chat.models import Channel, Message
from reactive.capture.tracking import tracked
from reactive.capture.writes import buffer_for
from reactive.errors import ReadOnlyError
from reactive.readsets import ALL_TABLES, EQ, IN, Pred, TableRead

pytestmark = pytest.mark.django_db


def reads(run: object) -> dict[str, list[TableRead]]:
    with tracked() as collector:
        run()  # type: ignore[operator]
    return collector.readset.tables


def test_filter_records_predicates_and_returned_pks() -> None:
    channel = Channel.objects.create(name="c")
    message = Message.objects.create(channel=channel, body="x")
    tables = reads(lambda: list(Message.objects.filter(channel_id=channel.pk).select_related("author")))
    assert tables["chat_message"] == [
        TableRead("chat_message", (Pred("channel_id", EQ, channel.pk),), frozenset([message.pk]))
    ]
    assert tables["auth_user"] == [TableRead("auth_user", None, frozenset())]  # reached by FK only
    assert "chat_channel" not in tables  # the trimmed join is not a read


def test_aggregates_subqueries_and_disjunctions() -> None:
    tables = reads(lambda: Message.objects.filter(channel_id=3).count())
    assert tables == {"chat_message": [TableRead("chat_message", (Pred("channel_id", EQ, 3),))]}
    tables = reads(lambda: list(Message.objects.filter(author__in=User.objects.filter(username="q"))))
    assert tables["auth_user"] == [TableRead("auth_user", (Pred("username", EQ, "q"),))]
    tables = reads(lambda: list(User.objects.filter(Exists(Message.objects.filter(author=OuterRef("pk"), body="z")))))
    assert tables["chat_message"] == [TableRead("chat_message", (Pred("body", EQ, "z"),))]
    tables = reads(lambda: list(Message.objects.filter(body="a") | Message.objects.filter(body="b")))
    assert tables["chat_message"] == [TableRead("chat_message", (), frozenset())]  # OR widens
    tables = reads(lambda: list(Channel.objects.annotate(n=Count("messages"))))
    assert TableRead("chat_message", ()) in tables["chat_message"]
    tables = reads(lambda: list(Message.objects.filter(body__in=["a", "b"], body__icontains="x")))
    assert tables["chat_message"] == [
        TableRead("chat_message", (Pred("body", IN, frozenset({"a", "b"})),), frozenset())
    ]


def test_raw_sql_reads_the_tables_it_names_or_everything() -> None:
    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM chat_message")
            cursor.execute("SELECT 1")

    tables = reads(raw)
    assert set(tables) == {"chat_message", ALL_TABLES}


def test_queries_cannot_write() -> None:
    with pytest.raises(ReadOnlyError), tracked():
        Channel.objects.create(name="nope")


def test_write_buffer_follows_savepoints() -> None:
    with transaction.atomic():
        Channel.objects.create(name="kept")
        sid = connection.savepoint()
        Channel.objects.create(name="dropped")
        transaction.savepoint_rollback(sid)
        entries = buffer_for(connection).entries
        assert [dict((p.column, p.value) for p in e.new or ())["name"] for e in entries] == ["kept"]


def test_joined_rows_filtered_by_an_unanalysable_lookup_are_not_pk_only() -> None:
    channel = Channel.objects.create(name="general")
    Message.objects.create(channel=channel, body="x")
    tables = reads(lambda: list(Message.objects.filter(channel__name__startswith="g").select_related("channel")))
    assert tables["chat_channel"] == [TableRead("chat_channel", (), frozenset([channel.pk]))]


def test_offset_pages_do_not_rely_on_returned_pks() -> None:
    channel = Channel.objects.create(name="c")
    for i in range(3):
        Message.objects.create(channel=channel, body=str(i))
    tables = reads(lambda: list(Message.objects.filter(channel=channel).order_by("id")[1:3]))
    assert tables["chat_message"] == [TableRead("chat_message", (Pred("channel_id", EQ, channel.pk),))]


def test_transaction_control_is_not_a_read() -> None:
    def savepoints() -> None:
        with transaction.atomic():
            list(Channel.objects.filter(name="x"))

    assert set(reads(savepoints)) == {"chat_channel"}


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ("SELECT 1", False),
        ("  -- note\n/* c */ (SELECT 1)", False),
        ("/* c */ UPDATE t SET a = 1", True),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("CREATE INDEX i ON t (a)", False),
        ("CALL do_things()", True),
    ],
)
def test_raw_write_detection(sql: str, write: bool) -> None:
    from reactive.capture.sqltext import is_write_sql

    assert is_write_sql(sql) is write

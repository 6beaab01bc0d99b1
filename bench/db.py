"""Database chores of the benchmark, run in a child process configured by :mod:`bench.settings`.

    python -m bench.db setup --channels 100 --messages 50 --users 20   # migrate + seed; prints JSON
    python -m bench.db commits --out FILE                              # message id -> commit time

Commit time of a message: the ``created_at`` of the outbox row whose write-set inserted it.
``reactive.commitlog.commits.flush`` stamps it inside the mutation's transaction, right before COMMIT (the
clock row is locked from then on), so ``client receive time - created_at`` measures commit-to-client
latency with the COMMIT statement itself included (conservative by that statement's duration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def setup(channels: int, messages: int, users: int) -> dict[str, Any]:
    """Migrate, then create ``channels`` channels with ``messages`` messages each and ``users`` authors."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from demo_project.chat.models import Channel, Message

    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    with transaction.atomic():
        authors = [User.objects.create(username=f"bench-user-{i:02d}") for i in range(users)]
        rows = [Channel(name=f"bench-{i:03d}") for i in range(channels)]
        chans = [Channel.objects.create(name=c.name) for c in rows]
        batch = []
        for chan in chans:
            for j in range(messages):
                author = authors[(chan.pk + j) % len(authors)]
                batch.append(Message(channel=chan, author=author, body=f"Seed message {j} of {chan.name}: hello!"))
        Message.objects.bulk_create(batch, batch_size=500)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return {"channels": [c.pk for c in chans], "authors": [a.username for a in authors]}


def commit_times() -> dict[str, Any]:
    """``{"messages": {message id: [commit time (epoch s), channel id]}, "commits": n}`` from the outbox."""
    from reactive.commitlog.commits import decode_writes
    from reactive.models import OutboxEntry

    times: dict[str, list[Any]] = {}
    count = 0
    for entry in OutboxEntry.objects.order_by("ts").iterator():
        count += 1
        stamp = entry.created_at.timestamp()
        for write in decode_writes(entry.writes):
            if write.table == "chat_message" and write.old is None and write.new and write.pks:
                channel = next((p.value for p in write.new if p.column == "channel_id" and p.op == "eq"), None)
                for pk in write.pks:
                    times[str(pk)] = [stamp, channel]
    return {"messages": times, "commits": count}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.db")
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup")
    p_setup.add_argument("--channels", type=int, default=100)
    p_setup.add_argument("--messages", type=int, default=50)
    p_setup.add_argument("--users", type=int, default=20)
    p_commits = sub.add_parser("commits")
    p_commits.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    _django()
    if args.command == "setup":
        json.dump(setup(args.channels, args.messages, args.users), sys.stdout)
    else:
        with open(args.out, "w") as handle:
            json.dump(commit_times(), handle)


if __name__ == "__main__":
    main()

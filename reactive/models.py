"""Bookkeeping tables: the commit clock, the outbox of committed write-sets, and mutation outcomes."""

from __future__ import annotations

from django.db import models


class CommitClock(models.Model):
    """One row (id=1) whose ``ts`` is the number of the newest committed write transaction."""

    ts = models.BigIntegerField(default=0)

    class Meta:
        db_table = "reactive_commit_clock"


class OutboxEntry(models.Model):
    """The write-set of the committed transaction numbered ``ts``."""

    ts = models.BigIntegerField(primary_key=True)
    writes = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "reactive_outbox"


class MutationRecord(models.Model):
    """The outcome of one client mutation: a re-send by the same identity is answered without running again."""

    session_id = models.CharField(max_length=64)
    request_id = models.BigIntegerField()
    # Who ran it (reactive.functions.identity.identity_key): the outcome is given to no one else.
    identity = models.CharField(max_length=255)
    success = models.BooleanField()
    # The encoded JSON result (success) or the error message (failure).
    result = models.TextField()
    error_data = models.TextField(null=True)
    # The failure's ReactiveError code, sent again with a stored failure ("" for records made before it was kept).
    error_code = models.CharField(max_length=64, default="")
    ts = models.BigIntegerField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "reactive_mutation_record"
        constraints = [models.UniqueConstraint(fields=["session_id", "request_id"], name="reactive_mutation_once")]
        indexes = [models.Index(fields=["created_at"], name="reactive_mutation_created")]

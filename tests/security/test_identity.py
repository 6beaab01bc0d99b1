"""Identity is current, and owned: every run sees the user as the database has it now; requests stay theirs."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission, User

from demo_project.chat.models import Channel
from reactive.commitlog.snapshot import read_snapshot
from reactive.conf import reactive_settings
from reactive.errors import IdentityMismatch
from reactive.functions.execution import Outcome, execute_mutation, execute_query
from reactive.functions.registry import FunctionSpec, Kind, lookup
from reactive.models import MutationRecord
from reactive.security import tokens
from reactive.testing import ReactiveCommunicator

from ..security_helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

SESSION_ID = "11111111-2222-3333-4444-555555555555"


async def connected(user: User | None, session_id: str | None = None, **connect_fields: Any) -> ReactiveCommunicator:
    client = ReactiveCommunicator(user=user, session_id=session_id)
    await client.connect(**connect_fields)
    return client


@sync_to_async
def update_user(user: User, **fields: object) -> None:
    User.objects.filter(pk=user.pk).update(**fields)


# --- the current user, on every run -----------------------------------------------------------------


async def test_revoking_staff_reaches_open_sockets_new_connections_and_mutations() -> None:
    boss = await make_user("boss", is_staff=True)
    client = await connected(boss)
    secret = await client.subscribe("testing:staff_secret")
    assert client.values[secret]["secret"] == "s3cret"
    assert (await client.mutation("testing:staff_mutation", {"name": "before"}))["success"] is True

    await update_user(boss, is_staff=False)
    assert (await client.wait_for_error(secret))["errorMessage"] == "Permission denied"
    denied = await client.call("Mutation", "testing:staff_mutation", {"name": "after"})
    assert denied == {**denied, "success": False, "result": "Permission denied"}
    # A new connection of the same user (here with the user object loaded before the change) shares nothing stale.
    again = await connected(boss)
    secret_again = await again.subscribe("testing:staff_secret")
    assert again.errors[secret_again]["errorMessage"] == "Permission denied"
    assert (await again.call("Mutation", "testing:staff_mutation", {"name": "after"}))["success"] is False
    assert not await sync_to_async(Channel.objects.filter(name="after").exists)()

    await update_user(boss, is_staff=True)
    assert (await client.wait_for(secret))["secret"] == "s3cret"
    await client.close()
    await again.close()


@pytest.mark.parametrize("change", ["deactivate", "delete"])
async def test_a_deactivated_or_deleted_user_is_anonymous_to_its_open_sockets(change: str) -> None:
    ann = await make_user("ann")
    client = await connected(ann)
    who = await client.subscribe("testing:whoami")
    assert client.values[who] == "ann"
    assert (await client.action("testing:async_whoami"))["result"] == "ann"
    if change == "deactivate":
        await update_user(ann, is_active=False)
    else:
        await sync_to_async(User.objects.filter(pk=ann.pk).delete)()
    assert (await client.wait_for_error(who))["errorMessage"] == "Authentication required"
    assert (await client.mutation("testing:caller", {"tag": "late"}))["result"] == "late:anonymous"
    assert (await client.action("testing:public_action"))["result"] == "Authentication required"
    assert (await client.action("testing:async_whoami"))["result"] == "anonymous"
    if change == "deactivate":
        await update_user(ann, is_active=True)  # as with Django's sessions, reactivating restores the user
        await client.wait_for(who, lambda value: value == "ann")
    await client.close()


async def test_removing_a_group_or_a_permission_reruns_the_users_queries() -> None:
    ann = await make_user("ann")

    @sync_to_async
    def setup() -> tuple[Group, Permission]:
        permission = Permission.objects.get(content_type__app_label="chat", codename="add_channel")
        editors = Group.objects.create(name="editors")
        editors.permissions.add(permission)
        ann.groups.add(editors)
        return editors, permission

    editors, permission = await setup()
    client = await connected(ann)
    editor = await client.subscribe("testing:channel_editor")
    assert client.values[editor] == "editor"

    async def expect(allowed: bool) -> None:
        if allowed:
            await client.wait_for(editor)
        else:
            assert (await client.wait_for_error(editor))["errorMessage"] == "Permission denied"

    await sync_to_async(ann.groups.remove)(editors)  # auth_user_groups
    await expect(False)
    await sync_to_async(ann.groups.add)(editors)
    await expect(True)
    await sync_to_async(editors.permissions.remove)(permission)  # auth_group_permissions
    await expect(False)
    await sync_to_async(ann.user_permissions.add)(permission)  # auth_user_user_permissions
    await expect(True)
    await sync_to_async(ann.user_permissions.remove)(permission)
    await expect(False)
    await client.close()


def test_a_run_reads_its_users_row_only_when_it_reads_the_user() -> None:
    ann = User.objects.create_user(username="ann", password="pw")
    with read_snapshot(reactive_settings.DATABASE):
        whoami = execute_query(lookup("testing:whoami", Kind.QUERY), {}, ann)
        echo = execute_query(lookup("testing:echo", Kind.QUERY), {"value": 1}, ann)
    assert whoami.identity_read and [read.pks for read in whoami.readset.tables["auth_user"]] == [frozenset({ann.pk})]
    assert not echo.identity_read and not echo.readset.tables


# --- exactly-once records belong to who made them ---------------------------------------------------


def test_a_mutation_record_answers_only_the_identity_that_made_it() -> None:
    ann = User.objects.create_user(username="ann", password="pw")
    bob = User.objects.create_user(username="bob", password="pw")
    caller = lookup("testing:caller", Kind.MUTATION)

    def run(spec: FunctionSpec, args: dict[str, Any], user: User, request_id: int, resent: bool) -> Outcome:
        return execute_mutation(spec, args, user, session_id=SESSION_ID, request_id=request_id, may_be_resent=resent)

    ran = run(caller, {"tag": "a"}, ann, 1, False)
    assert ran.success and ran.value_json == '"a:ann"'
    refused = run(lookup("testing:staff_mutation", Kind.MUTATION), {"name": "x"}, ann, 2, False)
    assert refused.error_message == "Permission denied"
    for request_id in (1, 2):  # a success and a recorded failure
        for resent in (True, False):  # looked up first, or found by the unique record after running
            other = run(caller, {"tag": "b"}, bob, request_id, resent)
            assert other == Outcome(
                False, error_message=IdentityMismatch.default_message, error_code=IdentityMismatch.code
            )
    assert run(caller, {"tag": "c"}, ann, 1, True) == ran
    assert not Channel.objects.filter(name__startswith="b:").exists()
    identities = MutationRecord.objects.order_by("request_id").values_list("identity", flat=True)
    assert list(identities) == [f"user:{ann.pk}", f"user:{ann.pk}"]


async def test_a_request_of_another_identity_neither_gets_nor_takes_the_stored_outcome() -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    client = await connected(ann, session_id=SESSION_ID)
    first = await client.mutation("testing:caller", {"tag": "first"}, request_id=7)
    assert first["result"] == "first:ann"
    await client.close()
    # Bob reuses ann's sessionId and requestIds: he does not get her outcome, and his requests do not take hers.
    intruder = await connected(bob, session_id=SESSION_ID, connectionCount=1)
    stolen = await intruder.call("Mutation", "testing:caller", {"tag": "stolen"}, request_id=7)
    assert stolen == {**stolen, "success": False, "result": IdentityMismatch.default_message}
    assert (await intruder.mutation("testing:caller", {"tag": "squat"}, request_id=8))["result"] == "squat:bob"
    await intruder.close()
    back = await connected(ann, session_id=SESSION_ID, connectionCount=1)
    replay = await back.call("Mutation", "testing:caller", {"tag": "first"}, request_id=7)
    assert replay["result"] == first["result"] and replay["ts"] == first["ts"]
    blocked = await back.call("Mutation", "testing:caller", {"tag": "mine"}, request_id=8)
    assert blocked == {**blocked, "success": False, "result": IdentityMismatch.default_message}
    await back.close()


# --- each message runs as the identity in effect when it arrived -----------------------------------


async def test_mutations_sent_before_authenticate_run_as_the_identity_before_it() -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    client = await connected(ann)
    sent = [await client.call("Mutation", "testing:caller", {"tag": f"m{i}"}, wait=False) for i in range(40)]
    token = await sync_to_async(tokens.issue)(bob)
    await client.send({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": token})
    after = await client.call("Mutation", "testing:caller", {"tag": "after"}, wait=False)
    ids = [r["requestId"] for r in [*sent, after]]
    await client.receive_until(lambda: all(i in client.responses for i in ids))
    assert [client.responses[r["requestId"]]["result"] for r in sent] == [f"m{i}:ann" for i in range(40)]
    assert client.responses[after["requestId"]]["result"] == "after:bob"
    await client.close()

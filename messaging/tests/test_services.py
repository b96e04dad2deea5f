"""Services and selectors called directly: direct-chat uniqueness under a race, message numbering,
read state, signalling targets, publishing after commit only, notification hook."""

from unittest import mock

import pytest
from django.db import IntegrityError

from core.actor import Actor
from messaging import realtime, selectors, services
from messaging.models import Chat, ChatMember, Message, direct_key_of
from messaging.notifications import notification_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(org_factory):
    organization, members = org_factory(roles=("owner", "member", "viewer"))
    return organization, {role: m.user for role, m in members.items()}


def test_direct_key_is_the_same_from_either_side(people):
    _, users = people

    assert direct_key_of([users["owner"].id, users["member"].id]) == direct_key_of([users["member"].id, users["owner"].id])


def test_a_direct_chat_created_concurrently_is_returned_not_duplicated(people):
    organization, users = people
    owner, member = users["owner"], users["member"]
    existing = Chat.objects.create(organization=organization, kind="direct", direct_key=direct_key_of([owner.id, member.id]))
    real_filter = Chat.objects.filter

    # given: the first lookup misses (the other request has not committed yet) and the insert collides
    with mock.patch("messaging.services._chat_insert", side_effect=IntegrityError("chat_one_direct_per_pair")):
        with mock.patch.object(Chat.objects, "for_organization") as scoped:
            first = mock.MagicMock()
            first.filter.return_value.first.return_value = None
            scoped.side_effect = [first, Chat.objects.get_queryset().filter(organization=organization)]
            chat, created = services.chat_create(organization=organization, actor=Actor.for_user(owner), kind="direct", member_ids=[member.id])

    assert (chat.id, created) == (existing.id, False)
    assert real_filter(kind="direct").count() == 1


def test_messages_are_numbered_per_chat_and_the_senders_own_are_read(people):
    organization, users = people
    owner, member = Actor.for_user(users["owner"]), Actor.for_user(users["member"])
    chat, _ = services.chat_create(organization=organization, actor=owner, kind="group", name="g", member_ids=[users["member"].id])
    other, _ = services.chat_create(organization=organization, actor=owner, kind="group", name="h", member_ids=[])

    seqs = [services.message_send(organization=organization, actor=member, chat_id=chat.id, content=f"m{n}").seq for n in range(3)]
    other_seq = services.message_send(organization=organization, actor=owner, chat_id=other.id, content="x").seq

    assert seqs == [1, 2, 3] and other_seq == 1
    assert ChatMember.objects.get(chat=chat, user=users["member"]).last_read_seq == 3
    assert selectors.unread_count(chat=chat, user=users["owner"], last_read_seq=0) == 3
    membership, unread = services.chat_mark_read(organization=organization, actor=owner, chat_id=chat.id)
    assert (membership.last_read_seq, unread) == (3, 0)


def test_signal_targets_are_the_other_participants_or_the_named_one(people):
    organization, users = people
    owner, viewer = Actor.for_user(users["owner"]), Actor.for_user(users["viewer"])
    chat, _ = services.chat_create(organization=organization, actor=owner, kind="group", name="g", member_ids=[users["member"].id, users["viewer"].id])
    call = services.call_start(organization=organization, actor=owner, chat_id=chat.id, kind="audio")

    everyone = services.call_signal_targets(organization=organization, actor=owner, call_id=call.id)
    one = services.call_signal_targets(organization=organization, actor=owner, call_id=call.id, to_user_id=users["member"].id)

    assert set(everyone) == {str(users["member"].id), str(users["viewer"].id)}
    assert one == [str(users["member"].id)]
    services.call_reject(organization=organization, actor=viewer, call_id=call.id)
    assert services.call_signal_targets(organization=organization, actor=owner, call_id=call.id) == [str(users["member"].id)]
    with pytest.raises(Exception) as refused:
        services.call_signal_targets(organization=organization, actor=viewer, call_id=call.id)
    assert refused.value.status_code == 403


def test_events_are_published_only_once_the_change_commits(people, django_capture_on_commit_callbacks):
    organization, users = people
    chat, _ = services.chat_create(organization=organization, actor=Actor.for_user(users["owner"]), kind="group", name="g", member_ids=[])

    with mock.patch.object(realtime, "_send") as sent:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.message_send(organization=organization, actor=Actor.for_user(users["owner"]), chat_id=chat.id, content="hi")
        assert sent.call_count == 0  # nothing before the commit
        for callback in callbacks:
            callback()

    groups, message = sent.call_args.args
    assert groups == [realtime.chat_group(chat.id)]
    assert message["event"] == "message:new" and message["data"]["message"]["content"] == "hi"


def test_a_failing_channel_layer_never_fails_the_change(people, django_capture_on_commit_callbacks):
    organization, users = people
    chat, _ = services.chat_create(organization=organization, actor=Actor.for_user(users["owner"]), kind="group", name="g", member_ids=[])
    broken = mock.MagicMock()
    broken.group_send = mock.AsyncMock(side_effect=ConnectionError("redis down"))

    with mock.patch.object(realtime, "get_channel_layer", return_value=broken):
        with django_capture_on_commit_callbacks(execute=True):
            message = services.message_send(organization=organization, actor=Actor.for_user(users["owner"]), chat_id=chat.id, content="still saved")

    assert Message.objects.filter(id=message.id).exists()


def test_the_notifications_app_publishes_through_the_hook(people, django_capture_on_commit_callbacks):
    from notifications.services import notify

    organization, users = people
    with mock.patch.object(realtime, "_send") as sent:
        with django_capture_on_commit_callbacks(execute=True):
            in_org = notify(event="role_changed", user=users["member"], organization=organization, context={"role": "admin"})
            no_org = notify(event="role_changed", user=users["viewer"], organization=None, context={"role": "admin"})

    published = {call.args[0][0]: call.args[1] for call in sent.call_args_list}
    assert set(published) == {realtime.user_group(organization.id, users["member"].id), realtime.user_any_org_group(users["viewer"].id)}
    payload = published[realtime.user_group(organization.id, users["member"].id)]
    assert payload["event"] == "notification:new" and payload["data"]["notification"]["id"] == str(in_org.id)
    assert no_org is not None


def test_notification_payload_has_the_api_shape(people):
    from notifications.api.serializers import NotificationSerializer
    from notifications.models import Notification

    organization, users = people
    notification = Notification.objects.create(
        user=users["member"], organization=organization, event="role_changed", title="t", body="b", data={"role": "admin"}
    )

    with mock.patch.object(realtime, "publish") as publish:
        notification_publish(notification=notification)

    payload = publish.call_args.args[2]["notification"]
    assert set(payload) == set(NotificationSerializer(notification).data)
    assert payload["created_at"].endswith("Z")


def test_a_member_removed_from_the_org_leaves_its_chats(team):
    from messaging.models import Chat, ChatMember
    from messaging.tests.conftest import direct_chat, group_chat

    owner, leaving = team.clients["owner"], team.user("member")
    direct = direct_chat(owner, leaving)
    group = group_chat(owner, leaving, team.user("admin"))

    response = owner.delete(f"/api/v1/orgs/{team.organization.id}/members/{leaving.id}")

    assert response.status_code == 204, response.content
    assert not ChatMember.objects.filter(user=leaving).exists()
    # Both chats stay for the others.
    assert Chat.objects.filter(id__in=[direct["id"], group["id"]]).count() == 2
    assert owner.get(f"/api/v1/chats/{group['id']}").status_code == 200


def test_deleting_a_chat_ends_its_live_call_for_everyone_in_it(people, django_capture_on_commit_callbacks):
    from messaging.models import Call

    organization, users = people
    owner, member = users["owner"], users["member"]
    chat, _ = services.chat_create(organization=organization, actor=Actor.for_user(owner), kind="group", name="g", member_ids=[member.id])
    call = services.call_start(organization=organization, actor=Actor.for_user(owner), chat_id=chat.id, kind="audio")

    with mock.patch.object(realtime, "_send") as sent:
        with django_capture_on_commit_callbacks(execute=True):
            services.chat_delete(organization=organization, actor=Actor.for_user(owner), chat_id=chat.id)

    ended = [message for _, message in (c.args for c in sent.call_args_list) if message["event"] == "call:ended"]
    assert len(ended) == 1 and ended[0]["data"]["reason"] == "chat_deleted"
    assert ended[0]["data"]["call_id"] == str(call.id)
    groups_told = next(c.args[0] for c in sent.call_args_list if c.args[1]["event"] == "call:ended")
    assert set(groups_told) == {realtime.user_group(organization.id, owner.id), realtime.user_group(organization.id, member.id)}
    assert not Call.objects.filter(id=call.id).exists() and not Chat.objects.filter(id=chat.id).exists()

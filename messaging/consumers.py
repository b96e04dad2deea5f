"""The WebSocket endpoint: live events of one user in one organization, and WebRTC signalling relay.

Connect to `/ws?org=<org_id>` with the access token as the subprotocol pair
`["bearer", "<access token>"]` (or `?token=<access>` where a client cannot set subprotocols).
The same rules as the REST API apply: a valid, unexpired access token whose session is alive,
an active member of the org holding `messaging:read`. A refused handshake is accepted and closed at
once with 4401 (authentication) or 4403 (organization / permission), so clients see the code.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework import exceptions as drf_exceptions

from accounts.authentication import JWTAuthentication, session_is_active
from core import clock
from core.actor import Actor, Principal
from core.exceptions import ApplicationError
from core.ids import parse_uuid
from messaging import realtime, selectors, services
from messaging.permissions import MESSAGING_READ, MESSAGING_WRITE
from organizations.context import mfa_requirement_check, org_context, sso_requirement_check
from organizations.models import Membership
from permissions import engine

logger = logging.getLogger(__name__)

SUBPROTOCOL = "bearer"
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# How often a long-lived socket re-checks its token, session and membership (seconds).
RECHECK_SECONDS = 30
RELAYED_SIGNALS = ("call:offer", "call:answer", "call:ice-candidate")
MAX_SIGNAL_CHARS = 64 * 1024
# Client messages per socket per window; ICE gathering sends bursts of candidates, so it is generous.
RATE_LIMIT_MESSAGES = 200
RATE_LIMIT_WINDOW_SECONDS = 10


class Refused(Exception):
    """The handshake is refused with this close code."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Connection:
    """Who is on the socket: user, organization, the token's session and expiry, and the actor of its changes."""

    user: object
    organization: object
    session_id: str
    expires_at: int
    actor: Actor
    mfa: bool = False
    principal: Principal | None = None


def _decide(*, organization, membership, permission: str, mfa: bool) -> bool:
    subject = engine.member_subject(organization=organization, membership=membership)
    decision = engine.decide(
        subject=subject,
        policies=engine.organization_policies(organization),
        permission=permission,
        # The token's MFA and the time are known; no client IP (proxies differ for sockets), so a
        # policy that needs an IP range is never met here: it fails closed.
        facts=engine.Facts(mfa=mfa, ip=None, now=clock.now()),
    )
    return decision.allowed


def authenticate(*, raw_token: str | None, org_param: str | None) -> Connection:
    """Check the token as the REST API does (simplejwt + live session) and the org membership."""
    if not raw_token:
        raise Refused(CLOSE_UNAUTHENTICATED, "No access token.")
    auth = JWTAuthentication()
    try:
        token = auth.get_validated_token(raw_token.encode())
        user = auth.get_user(token)
    except drf_exceptions.AuthenticationFailed as exc:
        detail = exc.detail.get("detail") if isinstance(exc.detail, dict) else exc.detail
        raise Refused(CLOSE_UNAUTHENTICATED, str(detail)) from None
    principal = Principal.from_claims(user, token.payload)
    organization_id = parse_uuid(org_param) if org_param else parse_uuid(principal.organization_id)
    if organization_id is None:
        raise Refused(CLOSE_FORBIDDEN, "No organization: pass ?org=<org_id>.")
    mfa = principal.mfa
    try:
        # The same resolver as the REST API's: membership, suspension and the org's `require_mfa`.
        membership = org_context(principal=principal, organization_id=organization_id).membership
    except ApplicationError as exc:
        raise Refused(CLOSE_FORBIDDEN, exc.message) from None
    if not _decide(organization=membership.organization, membership=membership, permission=MESSAGING_READ, mfa=mfa):
        raise Refused(CLOSE_FORBIDDEN, f"Missing permission {MESSAGING_READ}.")
    return Connection(
        user=user,
        organization=membership.organization,
        session_id=principal.session_id,
        expires_at=int(token["exp"]),
        # No origin: a socket's client IP is not reliably known behind proxies (see _decide).
        actor=Actor(principal=principal),
        mfa=mfa,
        principal=principal,
    )


def permissions_now(connection: Connection) -> tuple[int | None, bool]:
    """(close code or None to stay, may write): token unexpired, session alive, active member who may read."""
    if time.time() >= connection.expires_at or not session_is_active(connection.session_id):
        return CLOSE_UNAUTHENTICATED, False
    membership = Membership.objects.filter(user=connection.user, organization=connection.organization, status=Membership.Status.ACTIVE).first()
    if membership is None:
        return CLOSE_FORBIDDEN, False
    organization = connection.organization
    # A role change bumps the org's authorization revision: read it fresh, not from the connect-time row.
    # The settings too: `require_mfa` switched on closes a socket whose session never passed MFA.
    # And the SSO enforcement: turned on, it closes a socket whose session did not come through the IdP.
    organization.refresh_from_db(fields=["authz_revision", "settings", "sso_enforced_domains"])
    principal = connection.principal
    try:
        mfa_requirement_check(organization=organization, mfa=connection.mfa)
        sso_requirement_check(
            organization=organization,
            membership=membership,
            user=connection.user,
            sso=bool(principal and principal.sso),
            impersonating=bool(principal and principal.impersonator_id),
        )
    except ApplicationError:
        return CLOSE_FORBIDDEN, False
    if not _decide(organization=organization, membership=membership, permission=MESSAGING_READ, mfa=connection.mfa):
        return CLOSE_FORBIDDEN, False
    return None, _decide(organization=organization, membership=membership, permission=MESSAGING_WRITE, mfa=connection.mfa)


class MessagingConsumer(AsyncJsonWebsocketConsumer):
    """One user's socket in one organization."""

    connection: Connection | None = None

    async def connect(self):
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        subprotocols = list(self.scope.get("subprotocols") or [])
        raw_token, subprotocol = None, None
        if SUBPROTOCOL in subprotocols and subprotocols.index(SUBPROTOCOL) + 1 < len(subprotocols):
            raw_token, subprotocol = subprotocols[subprotocols.index(SUBPROTOCOL) + 1], SUBPROTOCOL
        elif params.get("token"):
            raw_token = params["token"][0]
        try:
            self.connection = await database_sync_to_async(authenticate)(raw_token=raw_token, org_param=(params.get("org") or [None])[0])
        except Refused as refused:
            logger.info("websocket refused: %s", refused)
            # Accept, then close with the code: a close sent before accepting becomes an HTTP 403 to
            # the handshake (ASGI spec; uvicorn, daphne), and the client would never see 4401/4403.
            await self.accept(subprotocol=subprotocol)
            await self.close(code=refused.code)
            return
        _, self.may_write = await database_sync_to_async(permissions_now)(self.connection)
        self.checked_at = time.monotonic()
        self.user_id = str(self.connection.user.pk)
        self.org_id = str(self.connection.organization.pk)
        self.chat_ids = {
            str(chat_id)
            for chat_id in await database_sync_to_async(selectors.chat_ids_of)(organization=self.connection.organization, user=self.connection.user)
        }
        self.groups_joined = [realtime.user_group(self.org_id, self.user_id), realtime.user_any_org_group(self.user_id)]
        self.groups_joined += [realtime.chat_group(chat_id) for chat_id in self.chat_ids]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept(subprotocol=subprotocol)

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _recheck(self) -> bool:
        """Close the socket when its token expired, its session was revoked or the membership ended."""
        if time.time() >= self.connection.expires_at:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return False
        if time.monotonic() - self.checked_at < RECHECK_SECONDS:
            return True
        close_code, self.may_write = await database_sync_to_async(permissions_now)(self.connection)
        if close_code is not None:
            await self.close(code=close_code)
            return False
        self.checked_at = time.monotonic()
        return True

    # --- server -> client ---------------------------------------------------------------------

    async def relay_event(self, message):
        """An event from a group: apply its control part, then pass it on unless it is not for us."""
        control = message.get("control") or {}
        if control.get("join_chat") and control["join_chat"] not in self.chat_ids:
            self.chat_ids.add(control["join_chat"])
            group = realtime.chat_group(control["join_chat"])
            self.groups_joined.append(group)
            await self.channel_layer.group_add(group, self.channel_name)
        chat_id = message.get("chat_id")
        if chat_id and chat_id not in self.chat_ids:
            return  # a chat we have left since: the event is not ours
        if self.user_id in (message.get("exclude") or []):
            return
        if control.get("leave_chat"):
            await self._leave_chat(control["leave_chat"])
        if not await self._recheck():
            return
        await self.send_json({"type": message["event"], "data": message.get("data") or {}})

    async def _leave_chat(self, chat_id: str) -> None:
        self.chat_ids.discard(chat_id)
        group = realtime.chat_group(chat_id)
        if group in self.groups_joined:
            self.groups_joined.remove(group)
        await self.channel_layer.group_discard(group, self.channel_name)

    # --- client -> server ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self._error(None, ApplicationError(code="VALIDATION_ERROR", message="Send JSON text frames."))
            return
        await super().receive(text_data=text_data, **kwargs)

    def _over_rate_limit(self) -> bool:
        now = time.monotonic()
        if now - getattr(self, "window_started", 0.0) >= RATE_LIMIT_WINDOW_SECONDS:
            self.window_started, self.window_count = now, 0
        self.window_count += 1
        return self.window_count > RATE_LIMIT_MESSAGES

    async def _error(self, ref, error: ApplicationError) -> None:
        await self.send_json({"type": "error", "ref": ref, "data": {"code": error.code, "message": error.message, "details": error.details}})

    async def receive_json(self, content, **kwargs):
        if not await self._recheck():
            return
        if self._over_rate_limit():
            await self._error(None, ApplicationError(code="RATE_LIMIT_EXCEEDED", message="Too many messages: slow down.", status_code=429))
            return
        kind = content.get("type") if isinstance(content, dict) else None
        ref = content.get("ref") if isinstance(content, dict) else None
        try:
            if kind == "ping":
                await self.send_json({"type": "pong", "ref": ref})
            elif kind in RELAYED_SIGNALS:
                await self._relay_signal(kind, content)
            elif kind in ("call:reject", "call:end"):
                await self._call_action(kind, content)
            elif kind == "message:send":
                await self._message_send(content)
            else:
                raise ApplicationError(code="VALIDATION_ERROR", message=f"Unknown message type {kind!r}.")
        except ApplicationError as error:
            await self._error(ref, error)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    def _call_id(self, content) -> uuid.UUID:
        call_id = parse_uuid(content.get("call_id"))
        if call_id is None:
            raise ApplicationError(code="VALIDATION_ERROR", message="`call_id` must be a UUID.", details={"call_id": ["Must be a valid UUID."]})
        return call_id

    async def _require_write(self) -> None:
        # Known from the last check (at most RECHECK_SECONDS old): ICE bursts cost no permission queries.
        if not self.may_write:
            raise ApplicationError(code="INSUFFICIENT_PERMISSIONS", message=f"Missing permission {MESSAGING_WRITE}.", status_code=403)

    async def _relay_signal(self, kind: str, content: dict) -> None:
        """Pass an offer, answer or ICE candidate to the call's other participants (or one of them)."""
        await self._require_write()
        call_id = self._call_id(content)
        to_user_id = content.get("to_user_id")
        if to_user_id is not None and parse_uuid(to_user_id) is None:
            raise ApplicationError(code="VALIDATION_ERROR", message="`to_user_id` must be a UUID.", details={"to_user_id": ["Must be a valid UUID."]})
        payload = {key: content[key] for key in ("sdp", "candidate", "sdp_mid", "sdp_m_line_index") if key in content}
        if len(str(payload)) > MAX_SIGNAL_CHARS:
            raise ApplicationError(code="VALIDATION_ERROR", message="Signalling message too large.")
        targets = await database_sync_to_async(services.call_signal_targets)(
            organization=self.connection.organization, actor=self.connection.actor, call_id=call_id, to_user_id=to_user_id
        )
        data = {"call_id": str(call_id), "from_user_id": self.user_id, **payload}
        await realtime.apublish_to_users(self.org_id, targets, kind, data)

    async def _call_action(self, kind: str, content: dict) -> None:
        await self._require_write()
        action = services.call_reject if kind == "call:reject" else services.call_end
        await database_sync_to_async(action)(organization=self.connection.organization, actor=self.connection.actor, call_id=self._call_id(content))

    async def _message_send(self, content: dict) -> None:
        await self._require_write()
        chat_id = parse_uuid(content.get("chat_id"))
        if chat_id is None:
            raise ApplicationError(code="VALIDATION_ERROR", message="`chat_id` must be a UUID.", details={"chat_id": ["Must be a valid UUID."]})
        await database_sync_to_async(services.message_send)(
            organization=self.connection.organization,
            actor=self.connection.actor,
            chat_id=chat_id,
            content=content.get("content"),
            message_type=content.get("message_type") or "TEXT",
        )

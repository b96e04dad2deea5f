"""SAML 2.0 connections on allauth's `saml` provider (python3-saml), scoped per connection.

allauth's own SAML URLs key an app by `client_id` ("organization slug") and build the SP settings
from the request; a per-org IdP needs more than that, so the provider subclass and views here use
allauth's pieces (its provider's attribute mapping, its state stash, `complete_social_login`,
its ACS cookie hand-over) with our routes under `/api/v1/auth/sso/<connection id>/` and settings
built per connection:
- strict mode: audience (our SP entity id), destination/recipient (our ACS), time window;
- assertions must be signed by the certificate in the IdP's metadata; deprecated algorithms
  (SHA-1) refused;
- SP-initiated only: the response's `InResponseTo` must name an AuthnRequest this browser's
  session stashed (single use); IdP-initiated responses are refused.
"""

import binascii
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal import httpkit
from allauth.socialaccount.helpers import complete_social_login, render_authentication_error
from allauth.socialaccount.providers.base.constants import AuthError
from allauth.socialaccount.providers.saml.provider import SAMLProvider
from allauth.socialaccount.sessions import LoginSession
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.errors import OneLogin_Saml2_Error
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from core.exceptions import validation_error
from sso.fetch import document_fetch

logger = logging.getLogger(__name__)

ACS_URL_NAME = "auth:sso-acs"
ACS_FINISH_URL_NAME = "auth:sso-acs-finish"
METADATA_URL_NAME = "auth:sso-metadata"
ACS_SESSION = ("sso_saml_acs", "sso-saml-acs")
MAX_METADATA_CHARS = 200_000

ATTRIBUTE_MAPPING = {
    "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id"],
    "email": [
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "email",
        "mail",
        "emailAddress",
    ],
    "first_name": ["urn:oid:2.5.4.42", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "givenName", "firstName", "first_name"],
    "last_name": ["urn:oid:2.5.4.4", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "sn", "surname", "lastName", "last_name"],
}


@dataclass(frozen=True)
class ResolvedIdP:
    entity_id: str
    metadata_url: str
    idp: dict  # python3-saml's `idp` settings: entityId, singleSignOnService, x509cert(Multi)


def idp_resolve(body: dict) -> ResolvedIdP:
    """Read the IdP's settings from its metadata (XML, or fetched from its URL); 400 when unusable."""
    xml, url = body.get("metadata_xml") or "", body.get("metadata_url") or ""
    if bool(xml) == bool(url):
        raise validation_error("saml", "Give the IdP's metadata_xml or its metadata_url (one of them).")
    field = "saml.metadata_url" if url else "saml.metadata_xml"
    if url:
        xml = document_fetch(url, field=field)
    if len(xml) > MAX_METADATA_CHARS:
        raise validation_error(field, "The metadata is too large.")
    try:
        # python3-saml parses with lxml, entities and network access off.
        idp = OneLogin_Saml2_IdPMetadataParser.parse(xml, required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT).get("idp") or {}
    except Exception:  # lxml / python3-saml raise many types for malformed XML
        raise validation_error(field, "This is not SAML 2.0 IdP metadata.") from None
    sso_url = (idp.get("singleSignOnService") or {}).get("url")
    certificates = idp.get("x509cert") or (idp.get("x509certMulti") or {}).get("signing")
    if not idp.get("entityId") or not sso_url:
        raise validation_error(field, "The metadata names no IdP entity id or no HTTP-Redirect sign-on URL.")
    if not certificates:
        raise validation_error(field, "The metadata carries no signing certificate.")
    idp.pop("singleLogoutService", None)  # single logout is not offered
    return ResolvedIdP(entity_id=idp["entityId"], metadata_url=url, idp=idp)


def app_settings(connection) -> dict:
    """The allauth app's settings: public ones only (the IdP settings stay sealed on the connection)."""
    return {"hidden": True, "attribute_mapping": ATTRIBUTE_MAPPING, "advanced": {"strict": True, "reject_idp_initiated_sso": True}}


def sp_urls(request: HttpRequest, connection_id) -> dict:
    """What the customer pastes into the IdP: our entity id (= the metadata URL), ACS and metadata URLs."""
    from sso.services import absolute_url

    metadata_url = absolute_url(request, reverse(METADATA_URL_NAME, kwargs={"connection_id": connection_id}))
    return {
        "entity_id": metadata_url,
        "acs_url": absolute_url(request, reverse(ACS_URL_NAME, kwargs={"connection_id": connection_id})),
        "metadata_url": metadata_url,
    }


def request_data(request: HttpRequest) -> dict:
    """python3-saml's view of a request, on the origin our URLs were published with (Destination checks)."""
    base = settings.SSO_SP_BASE_URL
    if base:
        parts = urlsplit(base)
        https, host, prefix = parts.scheme == "https", parts.netloc, parts.path.rstrip("/")
    else:
        # get_host: checked against ALLOWED_HOSTS (a forged Host cannot pick the audience we compare to).
        https, host, prefix = request.is_secure(), request.get_host(), ""
    return {
        "https": "on" if https else "off",
        "http_host": host,
        "script_name": prefix,
        "path_info": request.path_info,
        "get_data": request.GET.copy(),
        "post_data": request.POST.copy(),
    }


def saml_settings(request: HttpRequest, connection, idp: dict) -> dict:
    sp = sp_urls(request, connection.id)
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp["entity_id"],
            "assertionConsumerService": {"url": sp["acs_url"], "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST},
            "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_UNSPECIFIED,
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": False,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": False,
            "wantNameId": True,
            "wantAttributeStatement": False,
            "requestedAuthnContext": False,
            "rejectDeprecatedAlgorithm": True,
            "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
            "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
            "allowRepeatAttributeName": True,
            # Our own URLs may be on a single-label host (http://api:8000 behind a proxy, tests' testserver).
            "allowSingleLabelDomains": True,
        },
    }


class SSOSAMLProvider(SAMLProvider):
    """allauth's SAML provider for one connection, with that connection's SP and IdP settings."""

    def __init__(self, request: HttpRequest, app, *, connection, idp: dict) -> None:
        super().__init__(request, app=app)
        self.connection = connection
        self.idp = idp

    def auth_for(self, request_data: dict, request: HttpRequest) -> OneLogin_Saml2_Auth:
        return OneLogin_Saml2_Auth(request_data, saml_settings(request, self.connection, self.idp))

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs) -> HttpResponse:
        auth = self.auth_for(request_data(request), request)
        url = auth.login(return_to="")
        # The AuthnRequest id is the state id: the response must come back InResponseTo it, to this browser.
        self.stash_redirect_state(request, process, next_url, data, state_id=auth.get_last_request_id(), **kwargs)
        return HttpResponseRedirect(url)


def sp_metadata(request: HttpRequest, connection, idp: dict) -> str:
    document = OneLogin_Saml2_Settings(settings=saml_settings(request, connection, idp), sp_validation_only=True).get_sp_metadata()
    return document.decode() if isinstance(document, bytes) else document


def acs_receive(*, request: HttpRequest, connection_id) -> HttpResponse:
    """The IdP's cross-site POST: hand it (in allauth's short-lived cookie) to `acs/finish`, where the session cookie is sent."""
    response = HttpResponseRedirect(reverse(ACS_FINISH_URL_NAME, kwargs={"connection_id": connection_id}))
    acs_session = LoginSession(request, *ACS_SESSION)
    acs_session.store.update({"request": httpkit.serialize_request(request)})
    acs_session.save(response)
    return response


def acs_finish(*, request: HttpRequest, provider: SSOSAMLProvider) -> HttpResponse:
    """Validate the SAML response posted to the ACS and sign in through allauth (SP-initiated only)."""
    acs_session = LoginSession(request, *ACS_SESSION)
    data = acs_session.store.get("request")
    acs_session.delete()
    if not data:
        return render_authentication_error(request, provider)
    posted = httpkit.deserialize_request(data, HttpRequest())
    auth = provider.auth_for(request_data(posted), request)
    errors, reason = [], None
    try:
        # InResponseTo is checked below against the state stashed in this browser's session.
        auth.process_response(request_id=None)
    except binascii.Error:
        errors, reason = ["invalid_response"], "invalid base64"
    except OneLogin_Saml2_Error as exc:
        errors, reason = ["error"], str(exc)
    errors = errors or auth.get_errors()
    if errors:
        logger.warning("SAML response refused for connection %s: %s: %s", provider.connection.id, ", ".join(errors), auth.get_last_error_reason() or reason)
        return render_authentication_error(request, provider, extra_context={"state": None, "saml_errors": errors})
    if not auth.is_authenticated():
        return render_authentication_error(request, provider, error=AuthError.CANCELLED)
    state_id = auth.get_last_response_in_response_to()
    if not state_id:
        logger.warning("IdP-initiated SAML response refused for connection %s", provider.connection.id)
        return render_authentication_error(request, provider, extra_context={"state": None})
    try:
        state = provider.unstash_redirect_state(request, state_id)
    except PermissionDenied:
        return render_authentication_error(request, provider, extra_context={"state": None})
    login = provider.sociallogin_from_response(request, auth)
    login.state = state
    return complete_social_login(request, login)


def acs_finish_view(request: HttpRequest, provider: SSOSAMLProvider) -> HttpResponse:
    """`acs_finish` with allauth's early answers (ImmediateHttpResponse) turned into responses."""
    try:
        return acs_finish(request=request, provider=provider)
    except ImmediateHttpResponse as exc:
        return exc.response

"""The MC client's side of an MC user sign-in (TS 33.180 Annex B, TS 24.482 clause 6):
a relying party independent of the IdMS's code — authlib's OAuth 2.0 client for
requests — that signs the user in on the handset and fetches its MCPTT-specific
identities.

The flow: the IdMS's discovery document, the authorization request with PKCE (S256)
over mutual TLS with the handset's device certificate (the same certificate as the
checkout's), the login form's POST, the code from the redirect to the client's
private-use URI (RFC 8252 clause 7.1: not followed, read from ``Location``), the token
request over the same certificate (the tokens are bound to it, RFC 8705), then the
identities with the access token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from attest.errors import InputError, TransportError

DEFAULT_SCOPE = "openid 3gpp:mc:ptt_service"
TIMEOUT = 30


class SignInRefused(InputError):
    """The IdMS refused the sign-in; the message is its reason (``error`` and
    ``error_description`` of RFC 6749 clause 4.1.2.1 or 5.2, or the login form's)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"sign-in refused: {error}" + (f" ({description})" if description
                                                        else ""))
        self.error = error
        self.description = description


@dataclass
class McSession:
    """A signed-in MC client: its OAuth 2.0 session (tokens inside), the IdMS's
    metadata, and the ID token's claims as the IdMS sent them (verify them with the
    JWKS before relying on them)."""

    oauth: OAuth2Session
    metadata: dict[str, Any]

    @property
    def token(self) -> dict[str, Any]:
        token: dict[str, Any] = self.oauth.token
        return token

    def identities(self) -> dict[str, Any]:
        """IMPI2, IMPU2, aliases, home domain and registrar (the bound access token)."""
        return _identities(self.oauth.get(self.metadata["mc_identities_endpoint"],
                                          timeout=TIMEOUT))

    def refresh(self) -> dict[str, Any]:
        """A new access token (TS 33.180 clause B.5)."""
        try:
            token: dict[str, Any] = self.oauth.refresh_token(
                self.metadata["token_endpoint"], timeout=TIMEOUT)
        except Exception as exc:  # authlib's OAuthError, named by its module
            raise _oauth_refusal(exc) from None
        return token


def _identities(answer: requests.Response) -> dict[str, Any]:
    if answer.status_code != 200:
        raise SignInRefused(f"identities: HTTP {answer.status_code}", _problem_detail(answer))
    body: dict[str, Any] = answer.json()
    return body


def fetch_identities(server: str, access_token: str, *, cert: tuple[str, str],
                     ca: str | bool) -> dict[str, Any]:
    """The identities of an earlier sign-in: its access token at the IdMS's identities
    endpoint (from its discovery document), over mutual TLS with the device certificate
    and key ``cert`` the token is bound to (RFC 8705 clause 3)."""
    http = requests.Session()
    http.cert, http.verify, http.trust_env = cert, ca, False
    try:
        metadata = http.get(f"{server}/.well-known/openid-configuration", timeout=TIMEOUT)
        if metadata.status_code != 200:
            raise TransportError(f"IdMS {server}: discovery answered HTTP "
                                 f"{metadata.status_code}")
        endpoint = metadata.json().get("mc_identities_endpoint")
        if not isinstance(endpoint, str):
            raise TransportError(f"IdMS {server}: its discovery document names no "
                                 "mc_identities_endpoint")
        return _identities(http.get(endpoint, timeout=TIMEOUT,
                                    headers={"Authorization": f"Bearer {access_token}"}))
    except (requests.RequestException, ValueError) as exc:
        raise TransportError(f"IdMS {server}: {_network_reason(exc)}") from None
    finally:
        http.close()


def _network_reason(exc: Exception) -> str:
    """One short reason for a failed request (requests nests urllib3's and the socket's)."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT} s"
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        found = re.search(r"\[SSL[^\]]*\] ([^'\"()]+)", text)
        return "TLS: " + (found.group(1).strip() if found else "the handshake failed")
    if isinstance(exc, requests.ConnectionError):
        found = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", text)
        return "cannot connect: " + (found.group(1).strip() if found else "no connection")
    if isinstance(exc, ValueError):
        return "its answer is not JSON"
    return type(exc).__name__


def _problem_detail(answer: requests.Response) -> str:
    try:
        return str(answer.json().get("detail", ""))
    except ValueError:
        return ""


def _oauth_refusal(exc: Exception) -> SignInRefused:
    return SignInRefused(str(getattr(exc, "error", type(exc).__name__)),
                         str(getattr(exc, "description", "") or ""))


def sign_in(server: str, client_id: str, redirect_uri: str, username: str, password: str,
            *, cert: tuple[str, str] | None, ca: str | bool, totp: str | None = None,
            scope: str = DEFAULT_SCOPE) -> McSession:
    """Sign ``username`` in at the IdMS ``server`` as client ``client_id``, over TLS
    verified with ``ca`` and with the device certificate and key ``cert``."""
    oauth = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=scope,
                          code_challenge_method="S256",
                          token_endpoint_auth_method="none")  # noqa: S106 (public client)
    oauth.cert = cert
    oauth.verify = ca
    # requests lets REQUESTS_CA_BUNDLE override a session's verify; the IdMS's CA is the
    # one to trust here, whatever the environment says.
    oauth.trust_env = False
    metadata: dict[str, Any] = oauth.get(f"{server}/.well-known/openid-configuration",
                                         timeout=TIMEOUT, withhold_token=True).json()
    verifier = generate_token(64)
    uri, _state = oauth.create_authorization_url(metadata["authorization_endpoint"],
                                                 code_verifier=verifier)
    form = oauth.get(uri, timeout=TIMEOUT, allow_redirects=False, withhold_token=True)
    location = form.headers.get("Location")
    if form.status_code != 200:
        raise _refusal(location, form)
    answer = oauth.post(uri, timeout=TIMEOUT, allow_redirects=False, withhold_token=True,
                        data={"username": username, "password": password,
                              "totp": totp or ""})
    location = answer.headers.get("Location")
    if answer.status_code != 302 or location is None or "code=" not in location:
        raise _refusal(location, answer)
    try:
        oauth.fetch_token(metadata["token_endpoint"], authorization_response=location,
                          code_verifier=verifier, timeout=TIMEOUT)
    except Exception as exc:  # authlib's OAuthError
        raise _oauth_refusal(exc) from None
    return McSession(oauth, metadata)


def _refusal(location: str | None, answer: requests.Response) -> SignInRefused:
    if location:
        query = parse_qs(urlsplit(location).query)
        return SignInRefused(query.get("error", ["?"])[0],
                             query.get("error_description", [""])[0])
    return SignInRefused(f"HTTP {answer.status_code}", _login_message(answer.text))


def _login_message(page: str) -> str:
    """The login form's or error page's message (its role="alert" paragraph)."""
    start = page.find('role="alert"')
    if start < 0:
        return ""
    text = page[page.find(">", start) + 1:]
    return text[:text.find("<")].strip()

"""TLS in the service itself (``simattest serve --tls-cert/--tls-key [--client-ca]``).

**The listener.**  gunicorn terminates TLS with the options ``certfile``, ``keyfile``,
``ca_certs`` and ``cert_reqs``; its ``ssl_context`` hook (``ServerContext``) adds what
those cannot: a time limit on the handshake and first request; TLS 1.2 at least (1.3 is
then negotiated with every client that has it, OpenSSL choosing the highest version
both sides speak); TLS 1.2 only with ephemeral ECDHE and AEAD ciphers (forward secrecy);
and one context per worker process rather than gunicorn's default of a new context —
reading and parsing the key and certificate files again — for every connection
(``bench/RESULTS.md``, TLS cost).  Replacing the certificate files therefore takes a
restart (or SIGHUP, which starts fresh workers).

**Client certificates.**  With ``--client-ca`` the listener asks every client for a
certificate but does not require one (``CERT_OPTIONAL``): TLS knows nothing of URL
paths, and the desk and the operator API must keep working for browsers and tokens
without one.  A certificate that is offered is verified during the handshake (chain to
the client CA, validity period), and a handshake with a bad one fails; so a certificate
the request has is a verified one.  The device endpoints then refuse a request that has
none, or one that is not the handset's (``server.pool.devicecerts``).

**Getting the certificate to the endpoint.**  gunicorn puts no peer certificate into the
WSGI environ, but it does put the connection's socket there, as ``gunicorn.socket`` —
the ``ssl.SSLSocket`` once TLS is on, whose handshake gunicorn's gthread worker has
completed before it parses the request.  ``peer_certificate`` reads the certificate
from it, only when a device endpoint needs it.  The alternatives are worse: a
``pre_request`` hook sees the request but not the connection, and a custom worker class
would have to copy gunicorn's request handling to add one environ key.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attest.errors import InputError
from attest.textfile import os_reason

# TLS 1.2 suites with ephemeral keys and authenticated encryption only; TLS 1.3's suites
# all are, and OpenSSL configures them separately.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
PEER_SOCKET = "gunicorn.socket"
# A client's time for its TLS handshake and first request (``ServerContext``).
HANDSHAKE_SECONDS = 10.0


class _BoundedContext(ssl.SSLContext):
    """A server context whose connections get a time limit before their handshake."""

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        sock.settimeout(HANDSHAKE_SECONDS)  # the TLS socket takes it over
        return super().wrap_socket(sock, *args, **kwargs)


class ServerContext:
    """gunicorn's ``ssl_context`` hook: the worker's one server context (module
    docstring), made on its first connection from gunicorn's settings.

    Made here rather than by gunicorn's factory so that it is a ``_BoundedContext``:
    gunicorn's gthread worker handshakes in one of its threads and then reads the first
    request there, blocking and without a time limit, so a client that completes a
    handshake and sends nothing would hold that thread for ever, and as many such
    clients as the workers have threads would stall the service.  The limit bounds the
    handshake and the first request (gunicorn clears it when a kept-alive connection's
    next request arrives); a connection that runs out of it is closed.
    """

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    def __call__(self, conf: Any, _default_factory: Callable[[], ssl.SSLContext]
                 ) -> ssl.SSLContext:
        if self._context is None:
            context = _BoundedContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(conf.certfile, conf.keyfile)
            if conf.ca_certs:
                context.load_verify_locations(cafile=conf.ca_certs)
            context.verify_mode = conf.cert_reqs
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(TLS12_CIPHERS)
            self._context = context
        return self._context


def gunicorn_options(cert: str, key: str, client_ca: str | None) -> dict[str, Any]:
    """The gunicorn settings for TLS with ``cert``/``key``, asking for client
    certificates signed by ``client_ca`` if given."""
    options: dict[str, Any] = {"certfile": cert, "keyfile": key,
                               "ssl_context": ServerContext()}
    if client_ca is not None:
        options |= {"ca_certs": client_ca, "cert_reqs": ssl.CERT_OPTIONAL}
    return options


def check_files(cert: str, key: str, client_ca: str | None) -> None:
    """Load the files as each worker will, so that a missing file, a key that is not the
    certificate's or a client CA file that holds no certificate is refused at start-up
    in one line (InputError), not at the first connection."""
    for option, path in (("--tls-cert", cert), ("--tls-key", key), ("--client-ca", client_ca)):
        if path is None:
            continue
        try:
            Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"{option} {path}: cannot read it ({os_reason(exc)})") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        reason = "the key is not the certificate's" if exc.reason == "KEY_VALUES_MISMATCH" \
            else "not a PEM certificate and its unencrypted private key" \
            + (f" ({exc.reason})" if exc.reason else "")
        raise InputError(f"--tls-cert {cert} --tls-key {key}: {reason}") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise InputError(f"--client-ca {client_ca}: holds no PEM certificate "
                             f"({exc.reason})") from None


def peer_certificate(environ: dict[str, Any]) -> bytes | None:
    """The verified client certificate (DER) of the request's TLS connection, if any."""
    sock = environ.get(PEER_SOCKET)
    return sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None

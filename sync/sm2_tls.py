"""TLS to an SM2 center: the server's certificate checked by the agent itself, then pinned for the connection.

An SM2 center's CA signs the center's TLS certificate (a P-256 key, which every TLS client speaks) SM2-with-SM3, and
OpenSSL 3.0's chain check does not verify an SM2 signature on a certificate below its CA, so an ``SSLContext`` that
trusts the SM2 CA refuses the center. Instead the agent fetches the certificate the server presents, checks it as
it checks every certificate of the center (sync.algorithms.check_issued_by against the pinned CA: the SM2
signature, the validity period) and that it is a server certificate for the very host, and then connects with that
certificate's SHA-256 pinned (aiohttp's ``Fingerprint``): the handshake proves the server holds its key. A
certificate that stops matching (renewed by ``eport-center tls issue``) is forgotten and the next request checks the
new one the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sync.algorithms import SignatureError, check_issued_by

TIMEOUT = 10.0


def _presented_certificate(host: str, port: int) -> bytes:
    """The certificate the server presents (DER), read without trusting it: it is checked afterwards."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise SignatureError("the center presented no certificate")
    return der


def _names(cert: x509.Certificate) -> tuple[set[str], set[object]]:
    """The DNS names (lower case) and IP addresses a certificate names in its subjectAltName."""
    try:
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    dns = {name.lower() for name in alternative.get_values_for_type(x509.DNSName)}
    return dns, set(alternative.get_values_for_type(x509.IPAddress))


def check_server_certificate(cert: x509.Certificate, ca: x509.Certificate, host: str) -> None:
    """Raise SignatureError unless ``cert`` is ``ca``'s TLS server certificate for ``host``, valid now."""
    check_issued_by(cert, ca)
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise SignatureError("the center's certificate is not a TLS server certificate") from None
    if ExtendedKeyUsageOID.SERVER_AUTH not in usage:
        raise SignatureError("the center's certificate is not a TLS server certificate")
    dns, addresses = _names(cert)
    try:
        named = ipaddress.ip_address(host) in addresses
    except ValueError:
        named = host.lower().rstrip(".") in dns
    if not named:
        raise SignatureError(f"the center's certificate is not for {host}")


class ServerPin:
    """The TLS trust of an agent in an SM2 center: its pinned CA, and the server certificates checked against it."""

    def __init__(self, ca: x509.Certificate) -> None:
        self.ca = ca
        self._pinned: dict[tuple[str, int], aiohttp.Fingerprint] = {}

    @staticmethod
    def _address(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        if parts.hostname is None:
            raise ValueError(f"no host in {url}")
        return parts.hostname, parts.port or 443

    async def fingerprint(self, url: str) -> aiohttp.Fingerprint:
        """The pin for ``url``'s server: its certificate, checked now if it was not yet (SignatureError if bad)."""
        address = self._address(url)
        if address not in self._pinned:
            try:
                der = await asyncio.to_thread(_presented_certificate, *address)
            except TimeoutError:
                raise
            except OSError as exc:  # refused, unreachable, a broken handshake: as an aiohttp connection error
                raise aiohttp.ClientConnectionError(str(exc) or type(exc).__name__) from exc
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError as exc:
                raise SignatureError("the center's certificate cannot be read") from exc
            check_server_certificate(cert, self.ca, address[0])
            self._pinned[address] = aiohttp.Fingerprint(hashlib.sha256(der).digest())
        return self._pinned[address]

    def forget(self, url: str) -> None:
        """The server presented another certificate than the pinned one: check anew at the next request."""
        self._pinned.pop(self._address(url), None)


async def tls_for(
    url: str, trust: ssl.SSLContext | ServerPin | bool | None
) -> ssl.SSLContext | aiohttp.Fingerprint | bool:
    """What aiohttp's ``ssl=`` gets for a request to ``url``: a context, a checked pin, or True/False."""
    if isinstance(trust, ServerPin):
        return await trust.fingerprint(url)
    return True if trust is None else trust

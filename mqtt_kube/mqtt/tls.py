"""The TLS context towards the broker: server verification, a client certificate, ALPN.

Built anew for every connection attempt, so renewed certificate files are picked up. A
file that cannot be loaded is an `MqttError` naming the files (never the key's password),
which the reconnect loop logs and retries.
"""

from __future__ import annotations

import ssl

import aiomqtt

from mqtt_kube.config.model import TlsSettings


def tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """The context for `tls`; with `insecure`, the server is not verified at all."""
    try:
        context = ssl.create_default_context(cafile=tls.cafile)
        context.sslsocket_class = _HandshakeClosingSocket
        if tls.certfile:
            context.load_cert_chain(tls.certfile, tls.keyfile, password=tls.keyfile_password)
    except OSError as exc:  # ssl.SSLError included; its text never holds the password
        files = ", ".join(
            f"{name}={path}"
            for name, path in (
                ("cafile", tls.cafile),
                ("certfile", tls.certfile),
                ("keyfile", tls.keyfile),
            )
            if path
        )
        raise aiomqtt.MqttError(f"cannot load TLS files ({files}): {exc}") from exc
    if tls.protocols:
        context.set_alpn_protocols(list(tls.protocols))
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _HandshakeClosingSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails.

    paho 2.2 (`_ssl_wrap_socket`) leaves the socket open when `do_handshake()` raises (for
    instance on a certificate the CA does not vouch for), leaking one descriptor per
    attempt while the reconnect loop retries.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise

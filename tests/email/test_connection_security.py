"""IMAP over implicit TLS and STARTTLS against a real Dovecot with its own certificate;
plain IMAP only to the loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from channels.email.imap import InsecureConnection
from channels.email.models import Mailbox
from channels.email.operations import add_mailbox
from channels.email.poller import poll_mailbox
from helpdesk.db import db
from tests.email.conftest import ImapAccount, customer_mail, new_account
from tests.services import DovecotServer, free_port


class TlsDovecotServer(DovecotServer):
    """Dovecot offering STARTTLS on its IMAP port and implicit TLS on ``tls_port``."""

    def __init__(self, directory: Any, certificate: Path, key: Path, **kwargs: Any) -> None:
        self.certificate, self.key = certificate, key
        self.tls_port = free_port()
        super().__init__(directory, **kwargs)

    def _config(self) -> str:
        config = super()._config().replace(
            "ssl = no", f"ssl = yes\nssl_cert = <{self.certificate}\nssl_key = <{self.key}")
        return config.replace("inet_listener imaps {\n    port = 0",
                              f"inet_listener imaps {{\n    port = {self.tls_port}")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    directory.chmod(0o755)  # Dovecot reads the files as root, but keep them reachable
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_dovecot(tmp_path_factory: pytest.TempPathFactory,
                certificate: tuple[Path, Path]) -> Iterator[TlsDovecotServer]:
    with TlsDovecotServer(tmp_path_factory.mktemp("dovecot-tls"), *certificate) as server:
        yield server


@pytest.fixture
def account(tls_dovecot: TlsDovecotServer) -> ImapAccount:
    return new_account(tls_dovecot)


def _mailbox(account: ImapAccount, security: str, port: int, host: str = "127.0.0.1") -> int:
    mailbox = add_mailbox(name=f"m-{security}", address=f"{security}@helpdesk.test",
                          imap_host=host, imap_port=port, imap_security=security,
                          imap_username=account.user, imap_password=account.password)
    db.session.commit()
    return mailbox.id


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_is_fetched_over_tls_trusting_the_configured_ca(
        app: Flask, account: ImapAccount, tls_dovecot: TlsDovecotServer,
        certificate: tuple[Path, Path], security: str) -> None:
    app.config["IMAP_CA_FILE"] = str(certificate[0])
    port = tls_dovecot.tls_port if security == "tls" else tls_dovecot.port
    mailbox_id = _mailbox(account, security, port)
    account.deliver(customer_mail(subject=f"Over {security}"))

    assert poll_mailbox(mailbox_id) == 1


def test_a_certificate_nobody_vouches_for_is_refused_and_recorded(
        app: Flask, account: ImapAccount, tls_dovecot: TlsDovecotServer) -> None:
    mailbox_id = _mailbox(account, "starttls", tls_dovecot.port)

    with pytest.raises(OSError):
        poll_mailbox(mailbox_id)

    assert "CERTIFICATE_VERIFY_FAILED" in (db.session.get_one(Mailbox, mailbox_id).last_error
                                           or "")


def test_plain_imap_to_another_machine_is_refused_before_connecting(
        app: Flask, imap: ImapAccount) -> None:
    # Such a mailbox cannot be saved any more (see test_mailbox_console); one stored before
    # that rule is still never reached in clear.
    mailbox_id = _mailbox(imap, "tls", 143, host="imap.example.com")
    db.session.get_one(Mailbox, mailbox_id).imap_security = "none"
    db.session.commit()

    with pytest.raises(InsecureConnection):
        poll_mailbox(mailbox_id)

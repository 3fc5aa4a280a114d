"""Sending e-mail: the `Mailer` protocol and its SMTP implementation (smtplib).

A mailer sends one finished MIME message and raises when the server did not accept it; the
outbox (services/emails.py) decides about retries.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, Protocol

Security = Literal["none", "starttls", "tls"]
SECURITIES: tuple[Security, ...] = ("none", "starttls", "tls")
DEFAULT_PORTS: dict[Security, int] = {"none": 25, "starttls": 587, "tls": 465}


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand `message` to the mail system; raise unless it was accepted."""
        ...


class MailRejected(Exception):
    """The server accepted the connection but refused a recipient."""


@dataclass(frozen=True)
class SmtpMailer:
    """An SMTP relay. `security`: plain ("none"), STARTTLS on a plain connection, or TLS from
    the first byte ("tls", usually port 465). Logs in when a username is given."""

    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def send(self, message: EmailMessage) -> None:
        with self._connect() as smtp:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            refused = smtp.send_message(message)
        if refused:
            raise MailRejected(f"recipients refused: {refused}")

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

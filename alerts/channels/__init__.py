"""Delivery channels: one small sender class per channel type.

A sender is opened once per `deliver_pending` call and channel (so email reuses one SMTP
connection for the whole batch), sends one alert at a time, and reports failure by
raising `DeliveryError` saying whether to retry, and whether the whole channel is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from newsradar.config import Channel, Config

from ..common import Alert


class DeliveryError(Exception):
    """A failed send. `permanent`: retrying cannot help (550, webhook deleted).
    `channel_down`: the endpoint itself is unreachable or refusing (connection refused,
    timeout, HTTP 5xx/429, SMTP 421): stop using the channel for the rest of this call.
    `retry_after`: the endpoint's own hint, in seconds."""

    def __init__(self, message: str, *, permanent: bool = False, channel_down: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.channel_down = channel_down
        self.retry_after = retry_after


class Sender(Protocol):
    # Whether a delivery interrupted mid-send (process killed) is sent again: true where a
    # duplicate is harmless or recognisable (email Message-ID, files), false for Slack.
    resend_after_interruption: bool

    def send(self, alert: Alert, message_id: str | None) -> str | None:
        """Deliver one alert; return a note for a partial success (kept as last_error)."""
        ...

    def close(self) -> None: ...


@dataclass
class SendContext:
    """What senders may need beyond their own options."""

    config: Config
    console: Any = None                                   # rich Console for the console channel
    all_alerts: Callable[[], list[Alert]] = lambda: []    # for the file channel's Atom feed
    message_id_for: Callable[[Alert, Channel], str] | None = None


RESEND_AFTER_INTERRUPTION = {"email": True, "slack": False, "console": True, "file": True}


def make_sender(channel: Channel, context: SendContext) -> Sender:
    if channel.type == "email":
        from .email import EmailSender
        return EmailSender(channel)
    if channel.type == "slack":
        from .slack import SlackSender
        return SlackSender(channel)
    if channel.type == "console":
        from .console import ConsoleSender
        return ConsoleSender(channel, context)
    if channel.type == "file":
        from .file import FileSender
        return FileSender(channel, context)
    raise ValueError(f"unknown channel type {channel.type!r}")

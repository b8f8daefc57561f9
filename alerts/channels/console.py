"""Alerts printed as rich panels: the demo's default channel."""

from __future__ import annotations

import sys

from newsradar.config import Channel

from ..common import Alert
from ..render import console_panel
from . import SendContext


class ConsoleSender:
    resend_after_interruption = True  # printing twice is harmless

    def __init__(self, channel: Channel, context: SendContext) -> None:
        from rich.console import Console

        self.console = context.console or Console(file=sys.stdout, no_color=not channel.options.get("color", True),
                                                  highlight=False)

    def send(self, alert: Alert, message_id: str | None) -> None:
        self.console.print(console_panel(alert))

    def close(self) -> None:
        return None

"""Alerts written to a directory: `alerts.jsonl` (one payload per line), `alerts.atom`
(an Atom feed of every alert in the store, regenerated each time so it is always
complete), and the exact messages the other channels would send: `<id>.eml` and
`<id>.slack.json`. Every file is replaced atomically, and the JSONL line is written only
once per alert, so resending after an interruption is harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from newsradar.config import Channel

from ..common import Alert
from ..render import atom_feed, build_email, slack_json
from . import DeliveryError, SendContext

PLACEHOLDER_FROM = "newsradar@localhost"
PLACEHOLDER_TO = ("alerts@localhost",)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class FileSender:
    resend_after_interruption = True

    def __init__(self, channel: Channel, context: SendContext) -> None:
        self.channel = channel
        self.context = context
        self.directory = Path(channel.options["path"])
        emails = [c for c in context.config.channels if c.type == "email"]
        self.email_channel = emails[0] if emails else None

    def send(self, alert: Alert, message_id: str | None) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._append_jsonl(alert)
            self._write_eml(alert)
            _atomic_write(self.directory / f"{alert.id}.slack.json", slack_json(alert).encode("utf-8"))
            feed_id = "urn:newsradar:feed:" + hashlib.sha1(str(self.directory).encode()).hexdigest()[:16]
            _atomic_write(self.directory / "alerts.atom", atom_feed(self.context.all_alerts(), feed_id=feed_id))
        except OSError as exc:
            raise DeliveryError(f"{self.directory}: {exc.strerror or exc}", channel_down=True) from None

    def _append_jsonl(self, alert: Alert) -> None:
        path = self.directory / "alerts.jsonl"
        marker = f'"alert_id": {alert.id},'
        if path.exists():
            with path.open("r", encoding="utf-8", errors="replace") as fh:
                if any(line.startswith("{" + marker) for line in fh):
                    return
        line = json.dumps({"alert_id": alert.id, **alert.payload}, ensure_ascii=False)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _write_eml(self, alert: Alert) -> None:
        if self.email_channel is not None:
            sender, recipients = self.email_channel.options["from"], self.email_channel.options["to"]
            channel = self.email_channel
        else:
            sender, recipients, channel = PLACEHOLDER_FROM, PLACEHOLDER_TO, self.channel
        make_id = self.context.message_id_for
        message_id = make_id(alert, channel) if make_id else f"<alert-{alert.id}@newsradar.invalid>"
        msg = build_email(alert, sender=sender, recipients=recipients, message_id=message_id)
        _atomic_write(self.directory / f"{alert.id}.eml", bytes(msg))

    def close(self) -> None:
        return None

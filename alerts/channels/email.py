"""Email through SMTP (plain, STARTTLS or implicit TLS, optional login).

One connection serves every message to this channel within one `deliver_pending` call.
Failures are classified by SMTP reply code: 4xx is temporary, 5xx permanent, except
421 and connection-level trouble (refused, timeout, disconnect, TLS, login), which mean
the server is unavailable and the channel is paused for the rest of the call. A login
failure is treated as unavailable rather than permanent: it is a configuration problem,
and fixing the configuration must let the queued alerts through.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import Any

from newsradar.config import Channel

from ..common import Alert
from ..render import build_email
from . import DeliveryError


def _reply(code: int, message: Any) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"SMTP {code} {' '.join(text.split())}"[:300]


class EmailSender:
    resend_after_interruption = True

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.options = channel.options
        self.smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        o = self.options
        host, port, timeout = o["smtp_host"], int(o["smtp_port"]), float(o.get("timeout", 30.0))
        try:
            if o.get("ssl"):
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            try:
                smtp.ehlo()
                if o.get("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                password = o.get("password")
                if o.get("username") and password is not None:
                    smtp.login(o["username"], password.reveal())
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"login refused: {_reply(exc.smtp_code, exc.smtp_error)}", channel_down=True) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"server does not support what the channel asks: {exc}", channel_down=True) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{host}:{port}: {_reply(exc.smtp_code, exc.smtp_error)}", channel_down=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{host}:{port}: cannot connect: {exc or type(exc).__name__}",
                                channel_down=True) from None
        return smtp

    def send(self, alert: Alert, message_id: str | None) -> str | None:
        o = self.options
        msg = build_email(alert, sender=o["from"], recipients=o["to"],
                          message_id=message_id or f"<alert-{alert.id}.{self.channel.name}@newsradar.invalid>")
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            refused = self.smtp.send_message(msg, from_addr=o["from"], to_addrs=list(o["to"]))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in exc.recipients.items())
            raise DeliveryError(f"recipients refused: {detail}", permanent=all(c >= 500 for c in codes),
                                channel_down=any(c == 421 for c in codes)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise DeliveryError(_reply(exc.smtp_code, exc.smtp_error), permanent=exc.smtp_code >= 500,
                                channel_down=exc.smtp_code == 421) from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise DeliveryError(_reply(exc.smtp_code, exc.smtp_error), permanent=False, channel_down=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"connection lost: {exc or type(exc).__name__}", channel_down=True) from None
        if refused:  # some recipients took it: delivered, but say who did not
            detail = "; ".join(f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in refused.items())
            return f"some recipients refused: {detail}"
        return None

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

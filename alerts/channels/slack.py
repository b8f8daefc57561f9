"""Slack through an incoming webhook (`slack_sdk.webhook.WebhookClient`).

The client's own retry handlers are switched off: the outbox owns retries, and a hidden
retry after a lost response could post the message twice. Webhook answers: 200 "ok" is
sent; 429 and 5xx mean Slack is unavailable (retry later, honour Retry-After); 403
(invalid_token), 404 (no_service / channel_not_found) and 410 (channel_is_archived) mean
the webhook is gone, and other 4xx mean Slack rejected the message: both permanent.
The webhook URL is a secret and never appears in errors.
"""

from __future__ import annotations

from urllib.error import URLError

from slack_sdk.webhook import WebhookClient

from newsradar.config import Channel

from ..common import Alert
from ..render import slack_message
from . import DeliveryError


class SlackSender:
    resend_after_interruption = False  # no idempotency key: an interrupted post may already be visible

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        url = channel.options["webhook_url"]
        self.client = WebhookClient(url.reveal() if hasattr(url, "reveal") else str(url),
                                    timeout=int(max(1, round(float(channel.options.get("timeout", 15.0))))),
                                    retry_handlers=[])

    def send(self, alert: Alert, message_id: str | None) -> None:
        body = slack_message(alert)
        try:
            response = self.client.send_dict(body)
        except (URLError, OSError, ConnectionError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DeliveryError(f"webhook unreachable: {reason or type(exc).__name__}", channel_down=True) from None
        except Exception as exc:  # http.client errors (bad status line, incomplete read)
            raise DeliveryError(f"webhook request failed: {type(exc).__name__}: {exc}", channel_down=True) from None
        status = response.status_code
        text = " ".join(str(response.body or "").split())[:200]
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            retry_after = None
            headers = response.headers or {}
            for key in ("Retry-After", "retry-after"):
                value = headers.get(key) if hasattr(headers, "get") else None
                if value:
                    try:
                        retry_after = float(value[0] if isinstance(value, list) else value)
                    except ValueError:
                        pass
            raise DeliveryError(f"HTTP {status}: {text}", channel_down=True, retry_after=retry_after)
        raise DeliveryError(f"HTTP {status}: {text}", permanent=True)

    def close(self) -> None:
        return None

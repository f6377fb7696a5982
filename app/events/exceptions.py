"""Errors of the event feed and webhooks."""

from __future__ import annotations

from app.core.errors import InvalidInput, ServiceUnavailable


class WebhookUrlRefused(InvalidInput):
    """The URL is not one we will POST to (scheme, credentials, non-public address)."""

    code = "webhook-url-refused"
    title = "Webhook URL not allowed"


class TooManyStreams(ServiceUnavailable):
    code = "too-many-streams"
    title = "Too many live streams on this server"

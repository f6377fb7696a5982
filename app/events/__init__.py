"""Event feed and webhooks: what dashboards and partner apps learn of ticket changes.

Importing this package registers the outbox writer with ``app.tickets.hooks``:
any process that changes tickets must import it (``app.main`` does).
"""

from app.events import outbox as _outbox  # noqa: F401 - registers the hooks listener

"""Dashboard statistics: rollups maintained by a ticket hooks listener, read by
``/v1/stats/*``. Importing the package registers the listener."""

from app.stats.listener import install

install()

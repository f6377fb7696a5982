"""Open311 GeoReport v2 adapter: the standard partner API, with its own error format.

Mount it with :func:`app.open311.router.install`. Kept import-light on purpose:
``app.models`` imports :mod:`app.open311.models` through this package.
"""

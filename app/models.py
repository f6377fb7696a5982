"""Import every model so ``Base.metadata`` is complete (Alembic and tests use it)."""

from app.auth.models import ApiKey, Principal
from app.core.db import Base
from app.grids.models import Office

__all__ = ["ApiKey", "Base", "Office", "Principal"]

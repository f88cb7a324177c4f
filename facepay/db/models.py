"""Every table of the database, for Alembic and for tests.

The server's tables live on ``Base.metadata``; payments keeps its tables on
its own metadata. Both go into the one migration environment.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from facepay.cabinets import models as _cabinets  # noqa: F401  (registers tables)
from facepay.catalog import models as _catalog  # noqa: F401
from facepay.checkout import models as _checkout  # noqa: F401
from facepay.compliance import models as _compliance  # noqa: F401
from facepay.customers import models as _customers  # noqa: F401
from facepay.db.base import Base


def all_metadata() -> list[MetaData]:
    from payments.db import payments_metadata

    return [Base.metadata, payments_metadata()]

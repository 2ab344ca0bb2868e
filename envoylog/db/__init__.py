"""Storage: the schema, ``save_poll``, raw bodies and the spool (SQLite or PostgreSQL).

SQLAlchemy's exceptions never leave this package: they become ``StorageError``,
``DatabaseUnavailable`` (an outage: spool and retry) or ``SchemaError``.
"""

from envoylog.db.engine import EngineOptions, describe
from envoylog.db.migrate import current, downgrade, head_revision, upgrade
from envoylog.db.raw import prune_raw_bodies
from envoylog.db.save import SaveSummary, save_poll, save_polls
from envoylog.db.spool import Spool
from envoylog.db.store import Store, StoreOptions, open_store
from envoylog.db.url import default_db_path, resolve_db_url
from envoylog.db.writer import Writer, WriteResult, WriteStatus

__all__ = [
    "EngineOptions",
    "SaveSummary",
    "Spool",
    "Store",
    "StoreOptions",
    "WriteResult",
    "WriteStatus",
    "Writer",
    "current",
    "default_db_path",
    "describe",
    "downgrade",
    "head_revision",
    "open_store",
    "prune_raw_bodies",
    "resolve_db_url",
    "save_poll",
    "save_polls",
    "upgrade",
]

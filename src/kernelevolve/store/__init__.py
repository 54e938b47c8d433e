"""The store: run and node metadata in SQL (SQLite by default, any SQLAlchemy URL) and node files
in an object directory. ``open_store`` is the way in."""

from kernelevolve.graph import NewNode

from .claims import new_owner
from .errors import (
    DuplicateChildError,
    InvalidRecordError,
    NotAStoreError,
    ObjectMissingError,
    ObjectRootMismatchError,
    ParentBusyError,
    RunConflictError,
    SchemaTooNewError,
    StoreBusyError,
    StoreError,
    StoreNotFoundError,
    StoreUnreachableError,
    StoreURLError,
)
from .objects import ObjectStore
from .records import NodeRecord, RunRecord, RunSummary
from .store import Store, default_objects_dir, open_store

__all__ = [
    "DuplicateChildError",
    "InvalidRecordError",
    "NewNode",
    "NodeRecord",
    "NotAStoreError",
    "ObjectMissingError",
    "ObjectRootMismatchError",
    "ObjectStore",
    "ParentBusyError",
    "RunConflictError",
    "RunRecord",
    "RunSummary",
    "SchemaTooNewError",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoreNotFoundError",
    "StoreURLError",
    "StoreUnreachableError",
    "default_objects_dir",
    "new_owner",
    "open_store",
]

"""The typed errors the store raises; the CLI turns each into one line and the way out."""

from __future__ import annotations


class StoreError(Exception):
    """Anything the store refuses or cannot do."""


class StoreURLError(StoreError):
    """The store URL does not parse, or names a backend or driver this installation lacks."""


class StoreUnreachableError(StoreError):
    """The database server did not answer, or refused the connection."""


class StoreNotFoundError(StoreError):
    """A read-only command was pointed at a store that does not exist (it never creates one)."""


class NotAStoreError(StoreError):
    """The database is not a kernelevolve store: garbage, damaged, or empty of its tables."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer kernelevolve than this one."""


class RunConflictError(StoreError):
    """A run of that name already exists for a different problem."""


class InvalidRecordError(StoreError):
    """A value the store will not record: a bad name, a NaN score, an unknown parent…"""


class StoreBusyError(StoreError):
    """A write kept failing on locks or serialization conflicts after every retry."""


class ObjectMissingError(StoreError):
    """A node's object file is not where its row says it is."""


class ObjectRootMismatchError(StoreError):
    """The object directory belongs to another database."""


class ParentBusyError(StoreError):
    """An exclusive claim asked for a node that another live claim is expanding."""

    def __init__(self, message: str, busy: frozenset[int]):
        super().__init__(message)
        self.busy = busy  # every node live claims of the run were expanding


class DuplicateChildError(StoreError):
    """Another controller of a shared run recorded the same kernel from the same parent first: this
    copy was not recorded and its claim was given back."""

    def __init__(self, message: str, existing: int):
        super().__init__(message)
        self.existing = existing  # the node that already holds this kernel

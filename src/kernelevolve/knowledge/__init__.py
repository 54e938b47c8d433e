"""The knowledge base (constraints, guidance, hardware notes, samples) and retrieval over it."""

from kernelevolve.knowledge.retrieval import (
    KnowledgeBase,
    KnowledgeBaseError,
    build_query,
)
from kernelevolve.knowledge.tree import Document

__all__ = ["Document", "KnowledgeBase", "KnowledgeBaseError", "build_query"]

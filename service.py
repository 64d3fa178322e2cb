"""Entry point kept from the original project: ``bentoml serve service:vectorization``."""

from clipvec.serving.service import Vectorization, vectorization

__all__ = ["Vectorization", "vectorization"]

"""Sparse, top-k-truncated similarity between users or items (the neighbourhood models' hot path).

See :mod:`synerec.similarity.similarity` for the definitions (cosine eq. 1, Pearson eq. 2,
adjusted cosine eq. 3, shrinkage eq. 4).
"""

from synerec.similarity.similarity import (
    SIMILARITY_METHODS,
    numba_pool_size,
    numba_threads,
    rp3beta_similarity,
    similarity_matrix,
    top_neighbors,
)

__all__ = [
    "SIMILARITY_METHODS",
    "numba_pool_size",
    "numba_threads",
    "rp3beta_similarity",
    "similarity_matrix",
    "top_neighbors",
]

"""Sparse, top-k-truncated similarity between users or items (the neighbourhood models' hot path).

See :mod:`synerec.similarity.similarity` for the definitions (cosine eq. 1, Pearson eq. 2,
adjusted cosine eq. 3, shrinkage eq. 4). The names are imported on first use
(:mod:`synerec._lazy`), so :mod:`synerec.similarity.text` (numpy only) does not import numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synerec._lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__,
                                                            "synerec.similarity.similarity"))

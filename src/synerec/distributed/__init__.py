"""Beyond one machine: batch recommendation, similarity and embedding on Ray (extra ``ray``).

Every function here computes what a single-node synerec function computes, split into blocks
that Ray runs on many workers, and merges the blocks into the same result:

* :func:`batch_recommend` - top-``n`` lists of many users as Parquet (``user_id, rank, item_id,
  score``), the model put once in Ray's object store and shared by every worker; the file is
  identical to the single-node one (``engine="local"``).
* :func:`block_similarity_matrix` - :func:`synerec.similarity.similarity_matrix` in row blocks
  (Ray tasks), merged bit-for-bit into the single-node CSR matrix.
* :func:`embed_catalogue` - item texts embedded by Ray actors, on GPUs when the cluster has
  them, through the embedding cache.
* :func:`parallel_fit` - a model fitted with its sub-models (the hybrid's retrievers) in
  parallel Ray tasks, equal to the local fit.

A torch path (:mod:`synerec.distributed._gpu`) scores matrix factorisation models and computes
similarity blocks on a CUDA device when one is present.

Ray is imported only when a Ray engine is used; without it, the ``"local"`` engines work and the
Ray ones raise :class:`RayUnavailableError` (a :class:`~synerec.exceptions.SynerecError`). See
``docs/scaling.md`` for running on a real cluster.
"""

from synerec.distributed._gpu import cuda_available
from synerec.distributed._ray import RayUnavailableError, ray_session, require_ray
from synerec.distributed.batch import COLUMNS, BatchResult, batch_recommend, recommend_block
from synerec.distributed.embedding import embed_catalogue
from synerec.distributed.fit import parallel_fit
from synerec.distributed.similarity import (
    BlockCost,
    PreparedSimilarity,
    block_similarity_matrix,
    prepare_similarity,
)

__all__ = [
    "COLUMNS",
    "BatchResult",
    "BlockCost",
    "PreparedSimilarity",
    "RayUnavailableError",
    "batch_recommend",
    "block_similarity_matrix",
    "cuda_available",
    "embed_catalogue",
    "parallel_fit",
    "prepare_similarity",
    "ray_session",
    "recommend_block",
    "require_ray",
]

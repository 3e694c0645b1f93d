"""Former name of :mod:`synerec.topk`, the one shared top-k routine (kept for old imports).

The module was renamed so that it no longer shares its name with :mod:`synerec.metrics.ranking`;
new code imports from :mod:`synerec.topk`.
"""

from synerec.topk import PAD_INDEX, topk, topk_sparse

__all__ = ["PAD_INDEX", "topk", "topk_sparse"]

"""Language models as feature encoders: item texts, embeddings, a disk cache, user profiles.

Quick start::

    from synerec.data import load_dataset
    from synerec.text import SentenceTransformerEncoder, cached_encode, item_texts, user_profiles

    ds = load_dataset("ml-100k")
    E = cached_encode(SentenceTransformerEncoder(), item_texts(ds))   # (n_items, 384), unit rows
    P = user_profiles(ds.matrix, E)                                   # (n_users, 384), unit rows

Every encoder follows :class:`Encoder`: a stable ``name`` (the cache key), a ``dimension`` and
``encode(texts) -> float32 (n, d)`` with unit rows; an empty text gives a zero row. The heavy
libraries are imported only when an encoder is used.
"""

from collections.abc import Callable

from synerec.text.cache import CacheStats, EmbeddingCache, cached_encode, default_cache_folder
from synerec.text.encoders import (
    DEFAULT_MINILM,
    Encoder,
    EncoderError,
    OpenAIEmbeddingEncoder,
    SentenceTransformerEncoder,
    TfidfEncoder,
    bundled_minilm_path,
    normalize_rows,
)
from synerec.text.model2vec_encoder import Model2VecEncoder, default_model2vec_path, distill_minilm
from synerec.text.templates import (
    DEFAULT_ITEM_TEMPLATE,
    DEFAULT_MAX_CHARS,
    ItemTemplate,
    TemplateField,
    item_texts,
    user_profiles,
)

__all__ = [
    "DEFAULT_ITEM_TEMPLATE",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MINILM",
    "CacheStats",
    "EmbeddingCache",
    "Encoder",
    "EncoderError",
    "ItemTemplate",
    "Model2VecEncoder",
    "OpenAIEmbeddingEncoder",
    "SentenceTransformerEncoder",
    "TemplateField",
    "TfidfEncoder",
    "bundled_minilm_path",
    "cached_encode",
    "create_encoder",
    "default_cache_folder",
    "default_model2vec_path",
    "distill_minilm",
    "item_texts",
    "normalize_rows",
    "user_profiles",
]


def create_encoder(kind: str, **kwargs: object) -> Encoder:
    """An encoder by short name: ``minilm``, ``model2vec``, ``tfidf`` or ``openai``.

    Parameters
    ----------
    kind
        The short name.
    **kwargs
        Passed to the encoder's constructor.
    """
    from synerec.exceptions import ConfigError

    classes: dict[str, Callable[..., Encoder]] = {"minilm": SentenceTransformerEncoder,
                                "model2vec": Model2VecEncoder, "tfidf": TfidfEncoder,
                                "openai": OpenAIEmbeddingEncoder}
    try:
        cls = classes[kind]
    except KeyError:
        raise ConfigError(f"unknown encoder {kind!r}: choose one of "
                          f"{', '.join(sorted(classes))}") from None
    return cls(**kwargs)


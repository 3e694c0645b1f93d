"""Static (model2vec) embeddings: a token-vector table distilled from MiniLM, no torch to encode.

A model2vec model embeds a text as the mean of per-token vectors, so encoding is a table look-up:
hundreds of times faster than a transformer on a CPU, at some cost in quality.
:func:`distill_minilm` builds one from the bundled all-MiniLM-L6-v2 (offline, about 90 s on two
CPU cores, about 15 MB); :class:`Model2VecEncoder` loads and uses it.

References
----------
Tulkens, S. and van Dongen, T. (2024). Model2Vec: Fast state-of-the-art static embeddings.
https://github.com/MinishLab/model2vec
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synerec._config import cache_home
from synerec.exceptions import ConfigError
from synerec.text.encoders import (
    EncoderError,
    _check_batch_size,
    _encode_nonempty,
    bundled_minilm_path,
    check_texts,
)

__all__ = ["Model2VecEncoder", "default_model2vec_path", "distill_minilm"]

log = logging.getLogger(__name__)

_WEIGHTS = "model.safetensors"


def default_model2vec_path() -> Path:
    """``cache_home() / "models" / "minilm-m2v"``: where :func:`distill_minilm` writes."""
    return cache_home() / "models" / "minilm-m2v"


def _is_model_folder(folder: Path) -> bool:
    return (folder / _WEIGHTS).is_file() and (folder / "config.json").is_file()


def distill_minilm(out_dir: str | os.PathLike[str] | None = None, *, pca_dims: int | None = 256,
                   device: str | None = None, overwrite: bool = False) -> Path:
    """Distil a static model2vec model from the bundled all-MiniLM-L6-v2, fully offline.

    Every token of MiniLM's vocabulary is passed through the transformer once; the output vectors
    are reduced by PCA to ``pca_dims`` and weighted by SIF (``model2vec.distill``). Needs torch
    and transformers (only here: encoding with the result does not).

    The model is written to a temporary sibling folder and renamed into place, so ``out_dir``
    never holds a half-written model, even if the process is killed.

    Parameters
    ----------
    out_dir
        Target folder; default :func:`default_model2vec_path`.
    pca_dims
        Output dimension (``None``: keep MiniLM's 384).
    device
        torch device for the forward passes (default: CUDA when available).
    overwrite
        Replace an existing model; otherwise an existing one is returned as it is.

    Returns
    -------
    pathlib.Path
        The model folder.
    """
    target = Path(out_dir) if out_dir is not None else default_model2vec_path()
    if _is_model_folder(target) and not overwrite:
        log.info("model2vec model already in %s (overwrite=True to distil again)", target)
        return target
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder")
    if pca_dims is not None and not 1 <= pca_dims <= 384:
        raise ConfigError(f"pca_dims must be in [1, 384] or None, got {pca_dims}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise EncoderError(f"distill_minilm needs model2vec[distill], torch and transformers "
                           f"(pip install 'synerec[text]'): {exc}") from None
    source = bundled_minilm_path()
    if device is None:
        device = _default_device()
    start = time.perf_counter()
    log.info("distilling %s into a static model (pca_dims=%s, %s)", source, pca_dims, device)
    model = distill(model_name=str(source), pca_dims=pca_dims, device=device)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{target.name}-{uuid.uuid4().hex[:8]}")
    old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex[:8]}")
    try:
        model.save_pretrained(tmp, model_name="synerec/minilm-m2v")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    log.info("wrote %s in %.1f s", target, time.perf_counter() - start)
    return target


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Model2VecEncoder:
    """A static model2vec embedding model: mean of token vectors, unit rows.

    Parameters
    ----------
    path
        A model2vec model folder (``model.safetensors``, ``tokenizer.json``, ``config.json``);
        default :func:`default_model2vec_path` (made by :func:`distill_minilm`, or
        ``synerec text distill``). Only local folders: nothing is downloaded.
    batch_size
        Texts per batch.

    Notes
    -----
    ``name`` is ``"model2vec/{folder name}-{sha256 of the weights, 12 hex}"``, so re-distilling
    with other settings never reuses cached vectors of the old model. Empty texts, and texts made
    only of tokens the model does not know, give zero rows.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, batch_size: int = 1024) -> None:
        self.path = path
        self.batch_size = batch_size
        self._model: Any = None
        self._name: str | None = None

    @property
    def model_path(self) -> Path:
        """The model folder."""
        return Path(self.path) if self.path is not None else default_model2vec_path()

    def load(self) -> Any:
        """Load the model now (otherwise on first use) and return the ``StaticModel``."""
        if self._model is not None:
            return self._model
        folder = self.model_path
        if not _is_model_folder(folder):
            hint = " (run `synerec text distill` to build it)" if self.path is None else ""
            raise EncoderError(f"no model2vec model in {folder}{hint}")
        try:
            from model2vec import StaticModel
        except ImportError:
            raise EncoderError("Model2VecEncoder needs model2vec (pip install "
                               "'synerec[text]')") from None
        try:
            self._model = StaticModel.from_pretrained(folder, normalize=True)
        except (OSError, ValueError, KeyError) as exc:
            raise EncoderError(f"cannot load the model2vec model in {folder}: {exc}") from exc
        return self._model

    @property
    def name(self) -> str:
        """``"model2vec/{folder name}-{weights digest}"``."""
        if self._name is None:
            folder = self.model_path
            weights = folder / _WEIGHTS
            if not weights.is_file():
                self.load()  # raises the explanatory error
            h = hashlib.sha256()
            with open(weights, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            self._name = f"model2vec/{folder.resolve().name}-{h.hexdigest()[:12]}"
        return self._name

    @property
    def dimension(self) -> int:
        """Embedding length."""
        return int(self.load().dim)

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        """Embed ``texts``: float32 ``(n, dimension)``, unit rows, zero rows for empty texts."""
        texts = check_texts(texts)
        size = _check_batch_size(batch_size if batch_size is not None else self.batch_size)
        model = self.load()

        def run(batch: list[str]) -> np.ndarray:
            return model.encode(batch, batch_size=size, show_progress_bar=show_progress,
                                normalize=False, use_multiprocessing=False)

        return _encode_nonempty(texts, self.dimension, run)

    def __repr__(self) -> str:
        return f"Model2VecEncoder(path={self.path!r}, batch_size={self.batch_size})"

"""LightGBM's own C library, called directly, for a trained booster's predictions.

Importing the ``lightgbm`` Python package imports scikit-learn, which imports SciPy's
statistics: about 1.4 s before a saved hybrid can answer one ``synerec recommend`` (issue 23
asks for < 1 s as a whole process). Predicting needs none of that: this module loads
``lib_lightgbm`` (the library the installed ``lightgbm`` package ships, found without
executing the package) through :mod:`ctypes` and calls the same C functions the package's
``Booster`` calls (``LGBM_BoosterLoadModelFromString``, ``LGBM_BoosterPredictForMat``, ...),
so its predictions are LightGBM's, bit for bit (``tests/hybrid/test_booster.py`` compares them
with ``lightgbm.Booster`` on the same model). Training still goes through the ``lightgbm``
package (:mod:`synerec.hybrid.ranker`), whose model text this class then reads.

A booster travels to another process (a Ray worker) as its model text and is read again
there (:meth:`NativeBooster.__reduce__`).
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np

from synerec.exceptions import ConfigError

__all__ = ["NativeBooster", "library_path"]

_PREDICT_NORMAL = 0
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT32 = 0
_DTYPE_FLOAT64 = 1
_IMPORTANCE = {"split": 0, "gain": 1}
_INSTALL_HINT = ("the hybrid model needs LightGBM: pip install 'synerec[hybrid]' "
                 "(or pip install lightgbm)")

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def library_path() -> Path:
    """Where the installed ``lightgbm`` package keeps ``lib_lightgbm`` (the package not run).

    Raises
    ------
    ConfigError
        LightGBM is not installed, or its library file is missing.
    """
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(_INSTALL_HINT)
    name = {"win32": "lib_lightgbm.dll", "darwin": "lib_lightgbm.dylib"}.get(
        sys.platform, "lib_lightgbm.so")
    package = Path(next(iter(spec.submodule_search_locations)))
    # the places lightgbm/libpath.py looks, in its order
    for folder in (package.parent, package / "bin", package / "lib"):
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"{_INSTALL_HINT}: {name} is not in the installed package at {package}")


def _library() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.cdll.LoadLibrary(str(library_path()))
            lib.LGBM_GetLastError.restype = ctypes.c_char_p
            _lib = lib
        return _lib


def _call(status: int) -> None:
    if status != 0:
        message = _library().LGBM_GetLastError().decode("utf-8", "replace")
        raise ValueError(message)


class NativeBooster:
    """A LightGBM booster read from its text model, predicting through the C library.

    Parameters
    ----------
    model_text
        LightGBM's text model (``Booster.model_to_string()``).

    Raises
    ------
    ValueError
        The text is not a model LightGBM can read (LightGBM's own message).
    ConfigError
        LightGBM is not installed.
    """

    def __init__(self, model_text: str) -> None:
        lib = _library()
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int(0)
        _call(lib.LGBM_BoosterLoadModelFromString(model_text.encode("utf-8"),
                                                  ctypes.byref(iterations),
                                                  ctypes.byref(self._handle)))
        self._text = model_text
        count = ctypes.c_int(0)
        _call(lib.LGBM_BoosterGetCurrentIteration(self._handle, ctypes.byref(count)))
        self._iterations = int(count.value)
        n = ctypes.c_int(0)
        _call(lib.LGBM_BoosterGetNumFeature(self._handle, ctypes.byref(n)))
        self._n_features = int(n.value)
        self._names = self._feature_names()

    def __reduce__(self) -> tuple[type[NativeBooster], tuple[str]]:
        """Rebuild from the model text: how Ray (or :mod:`copy`) sends a booster elsewhere.

        The C handle is a pointer into this process's memory and cannot travel; the text it
        was read from can, and reading it again in the receiving process gives the same trees,
        so the copy's predictions equal this one's bit for bit. This is transport between
        processes of one run (Ray's object store, ``copy.deepcopy``), not persistence: a saved
        hybrid keeps the text as ``ranker.txt`` (:mod:`synerec.hybrid.persistence`).
        """
        return (NativeBooster, (self._text,))

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value and _lib is not None:
            _lib.LGBM_BoosterFree(handle)

    def _feature_names(self) -> list[str]:
        lib, n = _library(), self._n_features
        size = 256
        while True:
            buffers = [ctypes.create_string_buffer(size) for _ in range(n)]
            pointers = (ctypes.c_char_p * n)(
                *[ctypes.cast(b, ctypes.c_char_p) for b in buffers])
            out_n, needed = ctypes.c_int(0), ctypes.c_size_t(0)
            _call(lib.LGBM_BoosterGetFeatureNames(
                self._handle, ctypes.c_int(n), ctypes.byref(out_n), ctypes.c_size_t(size),
                ctypes.byref(needed), pointers))
            if needed.value <= size:
                return [b.value.decode("utf-8") for b in buffers[:out_n.value]]
            size = int(needed.value)

    def feature_name(self) -> list[str]:
        """The model's feature names, in column order."""
        return list(self._names)

    def current_iteration(self) -> int:
        """The number of boosting rounds in the model."""
        return self._iterations

    def model_to_string(self, num_iteration: int | None = None) -> str:
        """LightGBM's text model (the first ``num_iteration`` trees; all when ``None``)."""
        if num_iteration is None or num_iteration >= self._iterations:
            return self._text
        lib = _library()
        needed = ctypes.c_int64(0)
        size = len(self._text) + 1
        while True:
            buffer = ctypes.create_string_buffer(size)
            _call(lib.LGBM_BoosterSaveModelToString(
                self._handle, ctypes.c_int(0), ctypes.c_int(num_iteration),
                ctypes.c_int(0), ctypes.c_int64(size), ctypes.byref(needed), buffer))
            if needed.value <= size:
                return buffer.value.decode("utf-8")
            size = int(needed.value)

    def predict(self, features: np.ndarray, num_iteration: int = -1, num_threads: int = 0,
                pred_contrib: bool = False) -> np.ndarray:
        """Scores (``(n,)``) or SHAP contributions (``(n, n_features + 1)``) per row.

        ``features`` is a 2-D float32 or float64 array with the model's columns; other
        dtypes are converted to float64, as LightGBM's Python package does.
        """
        X = np.asarray(features)
        if X.ndim != 2 or X.shape[1] != self._n_features:
            raise ValueError(f"the model reads {self._n_features} features, "
                             f"got an array of shape {X.shape}")
        if X.dtype != np.float32:
            X = X.astype(np.float64, copy=False)
        X = np.ascontiguousarray(X)
        dtype = _DTYPE_FLOAT32 if X.dtype == np.float32 else _DTYPE_FLOAT64
        kind = _PREDICT_CONTRIB if pred_contrib else _PREDICT_NORMAL
        width = self._n_features + 1 if pred_contrib else 1
        out = np.empty(X.shape[0] * width, dtype=np.float64)
        if X.shape[0] == 0:
            return out.reshape(0, width) if pred_contrib else out
        written = ctypes.c_int64(0)
        params = f"num_threads={int(num_threads)}".encode()
        _call(_library().LGBM_BoosterPredictForMat(
            self._handle, X.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(dtype),
            ctypes.c_int32(X.shape[0]), ctypes.c_int32(X.shape[1]), ctypes.c_int(1),
            ctypes.c_int(kind), ctypes.c_int(0), ctypes.c_int(num_iteration), params,
            ctypes.byref(written), out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
        if written.value != out.size:
            raise ValueError(f"LightGBM wrote {written.value} predictions, expected {out.size}")
        return out.reshape(X.shape[0], width) if pred_contrib else out

    def feature_importance(self, importance_type: str = "gain",
                           iteration: int | None = None) -> np.ndarray:
        """Total ``"gain"`` or ``"split"`` count of each feature over the first trees."""
        out = np.zeros(self._n_features, dtype=np.float64)
        _call(_library().LGBM_BoosterFeatureImportance(
            self._handle, ctypes.c_int(-1 if iteration is None else int(iteration)),
            ctypes.c_int(_IMPORTANCE[importance_type]),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
        return out

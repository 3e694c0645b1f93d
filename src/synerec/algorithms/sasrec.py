r"""SASRec: causal self-attention over each user's items in time order (Kang & McAuley 2018).

The model reads a user's positives (:mod:`synerec.algorithms.positives`; by default every
interaction) oldest first, at most the latest ``max_len``, and scores every item as the *next*
one: the hidden state :math:`h_t` after the user's latest item against the item table,

.. math:: s_{uj} = h_{t}^\top e_j

with the same item table :math:`E` at the input and the output (the network:
:mod:`synerec.algorithms._sasrec_torch`). The order comes from the training data's timestamps
(:attr:`~synerec.algorithms.training.TrainingData.timestamps`: each (user, item) at its latest
time; equal times in the data set's log order, as the temporal splits break them, else by item
index); without timestamps a warning is logged and the items are read in index order.

Training
--------
Every position of a training sequence predicts the item that follows it. Two losses:

``loss="softmax"`` (the default)
    Cross-entropy over every item the training data has (full softmax; Klenitskiy & Vasilev
    2023 show it trains SASRec better and faster than the original one-negative binary loss).
    Items without training data are left out of the softmax, so they never get a gradient.
    On the Amazon Beauty sequences its best validation NDCG@10 was 0.0602 against 0.0566
    (1024 negatives) and 0.0550 (256) for the sampled one (``bench/sasrec.py``).
``loss="sampled-softmax"``
    Cross-entropy over the true next item and ``n_negatives`` distinct items drawn uniformly
    from the items with training data, shared by the batch (a drawn negative equal to a
    position's target is masked; a catalogue of at most ``n_negatives`` items is used whole).
    About ``n_items / n_negatives`` times cheaper per step than the full softmax, which
    matters on a CPU with a large catalogue (on 12 000 items, an epoch took a third of the
    time with 1024 negatives).

Early stopping: each user's *last training item* is held back as the validation target (the
network is trained on the rest); after every epoch the validation NDCG@10 over every item is
measured (on a seeded sample of at most 10 000 users), and after ``patience`` epochs without
a better one the weights of the best epoch are kept. Then, with ``refit`` (the default), a new
network from the same seed is trained on *every* training item, the validation items
included, for that many epochs: each user's latest transition is the one that tells most
about the next, and leaving it out of training costs about a fifth of the NDCG@10 on the
Amazon Beauty sequences (measured on the validation item of a split of the training part,
``bench/sasrec.py nextitem --validation``). ``patience=0``: no validation item, ``epochs``
epochs on every training item (what to run once the epoch count is known). The whole
training sequence is read when scoring. Sequences are batched by length (a batch is cropped
to its longest sequence), batches in a seeded random order.

Item embeddings from text (``item_init="text"``)
-------------------------------------------------
The item table starts from the items' text: :math:`E = T W + \alpha C` with the frozen text
embeddings :math:`T` (``item_embeddings=`` given to ``fit``, else the data set's item texts
through ``encoder`` and the embedding cache: :func:`synerec.algorithms.text_knn.embed_items`;
rows centred and normalised), a projection :math:`W` (learned by default, or frozen:
``text_projection``; from a random start or the text's principal directions:
``text_projection_init``) and a learned per-item correction :math:`C` that starts at zero,
weighted by ``text_correction`` :math:`\alpha`. Items without training data keep
:math:`C = 0`: their embedding is their text's projection, so they get meaningful, finite
scores (they are still left out of ``recommend`` lists, as for every model that does not
declare ``scores_cold_items``). Without item text the model says so in the log and starts from
a random table.

Serving
-------
:class:`~synerec.algorithms.abilities.ScoresSequence`: :meth:`SASRec.user_sequences` gives a
user's training sequence; append the events since the fit and :meth:`SASRec.score_sequences`
ranks from them without a refit.

References
----------
.. [1] W.-C. Kang, J. McAuley, "Self-attentive sequential recommendation", ICDM 2018.
.. [2] A. Klenitskiy, A. Vasilev, "Turning dross into gold loss: is BERT4Rec really better than
   SASRec?", RecSys 2023 (full cross-entropy loss).
.. [3] A. Petrov, C. Macdonald, "gSASRec: reducing overconfidence in sequential recommendation
   trained with negative sampling", RecSys 2023 (sampled losses with many negatives).
.. [4] Y. Hou et al., "Towards universal sequence representation learning for recommender
   systems" (UniSRec), KDD 2022 (item representations from text).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field, model_validator

from synerec._rng import check_random_state
from synerec.algorithms.abilities import EvidenceKind, ScoresSequence
from synerec.algorithms.positives import (
    PositiveFeedbackConfig,
    PositiveFeedbackModel,
    PositiveThreshold,
    positive_matrix,
)
from synerec.algorithms.registry import register_model
from synerec.algorithms.training import Need, TrainingData, latest_times
from synerec.exceptions import ConfigError

if TYPE_CHECKING:
    import torch

    from synerec.algorithms._sasrec_torch import SASRecNet

__all__ = ["SASRec", "SASRecConfig", "sequences_in_time_order"]

log = logging.getLogger(__name__)

#: Sequences scored at once (bounds the ``batch x n_items`` block of scores).
_SCORE_BATCH = 256
#: The list length of the validation NDCG that early stopping watches.
_VALIDATION_N = 10
#: At most this many users (a seeded sample, the same every epoch) measure the validation NDCG.
_VALIDATION_USERS = 10_000


class SASRecConfig(PositiveFeedbackConfig):
    """Parameters of :class:`SASRec` (documented there).

    Defaults: the best of the validation runs on the Amazon 2014 Beauty sequences (hidden size
    64, two blocks, one head, dropout 0.5, full softmax, batches of 256 at a learning rate of
    0.002, refit); ``max_len`` 50 reads all of 99 % of the Beauty and Sports users' items
    (200 reads more of the MovieLens histories, at four times the cost). See
    ``bench/sasrec.py``.
    """

    #: Every interaction is part of the sequence by default (a low rating is still an event).
    positive_threshold: PositiveThreshold = None
    factors: int = Field(64, ge=1)
    n_blocks: int = Field(2, ge=1)
    n_heads: int = Field(1, ge=1)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    max_len: int = Field(50, ge=1)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(0.002, gt=0.0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    loss: Literal["softmax", "sampled-softmax"] = "softmax"
    n_negatives: int = Field(1024, ge=1)
    patience: int = Field(5, ge=0)
    refit: bool = True
    random_state: int | None = None
    num_threads: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "gpu"] = "auto"
    item_init: Literal["random", "text"] = "random"
    encoder: str = "minilm"
    text_correction: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    text_projection: Literal["learned", "frozen"] = "learned"
    text_projection_init: Literal["random", "pca"] = "random"
    show_progress: bool = False

    @model_validator(mode="after")
    def _heads_divide_factors(self) -> SASRecConfig:
        if self.factors % self.n_heads:
            raise ValueError(f"factors ({self.factors}) must be a multiple of n_heads "
                             f"({self.n_heads})")
        return self


def sequences_in_time_order(P: sp.csr_matrix, times: sp.csr_matrix | None,
                            ties: sp.csr_matrix | None = None
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's stored items, oldest first, as ``(indptr, items)``.

    Parameters
    ----------
    P
        Users x items CSR (sorted indices).
    times
        Timestamps with a pattern that contains ``P``'s (the training data's), or ``None``:
        index order.
    ties
        Another key on the same pattern that orders equal times (the position of each
        pair's latest interaction in the data set's log); then the item index.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        int64 ``indptr`` (``n_users + 1``) and int32 item indices.
    """
    indptr = P.indptr.astype(np.int64)
    items = P.indices.astype(np.int32)
    if times is None or P.nnz == 0:
        return indptr, items.copy()
    t = _values_on_pattern(sp.csr_matrix(times), P)
    tie = np.zeros(len(t)) if ties is None else _values_on_pattern(sp.csr_matrix(ties), P)
    rows = np.repeat(np.arange(P.shape[0], dtype=np.int64), np.diff(indptr))
    order = np.lexsort((items, tie, t, rows))
    return indptr, items[order]


def _values_on_pattern(T: sp.csr_matrix, P: sp.csr_matrix) -> np.ndarray:
    """``T``'s value at each stored entry of ``P`` (in ``P``'s order); ``P``'s pattern must be
    inside ``T``'s."""
    n_items = P.shape[1]
    rows_p = np.repeat(np.arange(P.shape[0], dtype=np.int64), np.diff(P.indptr))
    keys_p = rows_p * n_items + P.indices
    T = sp.csr_matrix(T)
    T.sort_indices()
    rows_t = np.repeat(np.arange(T.shape[0], dtype=np.int64), np.diff(T.indptr))
    keys_t = rows_t * n_items + T.indices  # sorted: rows, then sorted indices
    pos = np.searchsorted(keys_t, keys_p)
    if len(keys_p) and (pos.max() >= len(keys_t) or (keys_t[pos] != keys_p).any()):
        raise ValueError("the timestamps do not cover every training interaction")
    return np.asarray(T.data[pos], dtype=np.float64)


@register_model("sasrec")
class SASRec(PositiveFeedbackModel[SASRecConfig], ScoresSequence):
    """SASRec, the self-attentive next-item model (see the module docstring).

    Parameters
    ----------
    factors
        Hidden size :math:`d` (item and positional embeddings, attention, FFN).
    n_blocks, n_heads
        Transformer blocks and attention heads (``n_heads`` divides ``factors``).
    dropout
        Dropout on the embeddings and on every block's two branches.
    max_len
        The latest items read per user (training windows and scoring).
    epochs
        At most this many passes over the training sequences.
    batch_size
        Sequences per step (Adam).
    learning_rate, weight_decay
        AdamW's step size and decoupled weight decay.
    loss
        ``"softmax"`` (default: full cross-entropy) or ``"sampled-softmax"``.
    n_negatives
        Negatives per batch of the sampled softmax.
    patience
        Epochs without a better validation NDCG@10 before stopping (``0``: no validation
        item, all ``epochs``).
    refit
        After early stopping, train a new network (same seed) on every training item, the
        validation items included, for the best epoch's count (the latest transitions teach
        the most about the next one; about twice the training time).
    random_state
        Seed (initial weights, batch order, dropout, negatives).
    num_threads
        Torch's CPU threads during ``fit`` and scoring (``0``: torch's default).
    device
        ``"auto"`` (a CUDA GPU when torch sees one), ``"cpu"`` or ``"gpu"``.
    item_init
        ``"random"`` or ``"text"`` (the item table from the items' text embeddings).
    encoder
        The text encoder for ``item_init="text"`` when ``fit`` gets no ``item_embeddings``.
    text_correction
        ``item_init="text"``: the weight :math:`\alpha` of the learned per-item correction
        (:math:`E = T W + \alpha C`; with Adam it scales how fast an item's embedding may move
        away from its text's projection; ``0``: never).
    text_projection
        ``item_init="text"``: the projection :math:`W` ``"learned"`` or ``"frozen"`` at its
        start.
    text_projection_init
        ``item_init="text"``: :math:`W` starts at random or at the text's first ``factors``
        principal directions (``"pca"``), at the random start's spread.
    show_progress
        A progress bar per epoch (tqdm, on stderr); each epoch is logged at INFO either way.
    positive_threshold
        Which interactions make the sequence (default ``None``: all of them).

    Attributes
    ----------
    network_ : SASRecNet
        The trained network (:mod:`synerec.algorithms._sasrec_torch`), in evaluation mode.
    sequence_indptr_, sequence_items_ : numpy.ndarray
        Each user's positives, oldest first (CSR-like).
    history_ : numpy.ndarray
        ``(epochs run, 3)``: training loss, validation NDCG@10 and HR@10 per epoch (NaN
        without validation).
    best_epoch_ : int
        The epoch whose weights were kept (1-based).
    fit_seconds_ : float
        Training time.
    device_ : str
        Where the network ran (``"cpu"`` or ``"cuda"``).
    text_init_ : bool
        Whether the item table was built from text.
    """

    needs: ClassVar[frozenset[Need]] = frozenset({"timestamps"})
    evidence_kind: ClassVar[EvidenceKind] = "sequence"

    network_: SASRecNet
    sequence_indptr_: np.ndarray
    sequence_items_: np.ndarray
    history_: np.ndarray
    best_epoch_: int
    fit_seconds_: float
    device_: str
    text_init_: bool
    _scoring: tuple[SASRecNet, torch.Tensor] | None

    # -- fitting ----------------------------------------------------------------------------------
    def _fit(self, data: TrainingData) -> None:
        self._require_positives(data.matrix)
        times = data.timestamps
        if times is None:
            log.warning("SASRec: the training data have no timestamps; each user's items are "
                        "read in item index order (give a data set with timestamps, or a "
                        "TrainingData with them, for the order to mean time)")
        ties = None
        ds = data.dataset
        if times is not None and ds is not None and ds.timestamps is not None:
            # equal times (a basket, a burst of ratings): the log's order, as the splits
            ties = latest_times(ds.user_index, ds.item_index,
                                np.arange(ds.n_interactions, dtype=np.float64), data.matrix)
        self.sequence_indptr_, self.sequence_items_ = sequences_in_time_order(
            self.positives_, times, ties)
        text = self._text_embeddings(data)
        cfg = self.config_
        start = time.perf_counter()
        with _torch_threads(cfg.num_threads):
            self._train(text)
        self.fit_seconds_ = time.perf_counter() - start
        log.info("SASRec: %d epochs (best %d) in %.1f s on %s", len(self.history_),
                 self.best_epoch_, self.fit_seconds_, self.device_)

    def _text_embeddings(self, data: TrainingData) -> np.ndarray | None:
        """The frozen text table for ``item_init="text"`` (centred unit rows), else None."""
        cfg = self.config_
        if cfg.item_init != "text":
            return None
        E = data.item_embeddings
        if E is None and data.dataset is not None:
            from synerec.text import item_texts

            if any(t.strip() for t in item_texts(data.dataset)):
                from synerec.algorithms.text_knn import embed_items

                E = embed_items(data.dataset, cfg.encoder)
        if E is None or not np.abs(E).sum():
            log.warning("SASRec: item_init='text' but the training data have no item text "
                        "(no data set with titles or descriptions, no item_embeddings): the "
                        "item table starts at random")
            return None
        from synerec.algorithms.text_knn import center_rows

        return center_rows(np.asarray(E, dtype=np.float32))

    def _device(self) -> torch.device:
        import torch

        want = self.config_.device
        has = torch.cuda.is_available()
        if want == "gpu" and not has:
            raise ConfigError("device='gpu' asked for, but torch sees no CUDA GPU; use "
                              "device='auto' or 'cpu'")
        return torch.device("cuda" if want != "cpu" and has else "cpu")

    def _new_network(self, text_dim: int | None) -> SASRecNet:
        from synerec.algorithms._sasrec_torch import SASRecNet

        cfg = self.config_
        return SASRecNet(self.n_items_, cfg.factors, cfg.n_blocks, cfg.n_heads, cfg.dropout,
                         cfg.max_len, text_dim=text_dim, correction_scale=cfg.text_correction,
                         projection=cfg.text_projection,
                         projection_init=cfg.text_projection_init)

    def _train(self, text: np.ndarray | None) -> None:
        cfg = self.config_
        device = self._device()
        self.device_ = device.type
        rng = check_random_state(cfg.random_state)
        seed = int(rng.integers(2**62))
        lengths = np.diff(self.sequence_indptr_)
        validate = cfg.patience > 0
        # the validation target: each user's last training item (users with two or more)
        val_users = np.flatnonzero(lengths >= 2) if validate else np.zeros(0, np.int64)
        if validate and len(val_users) == 0:
            log.warning("SASRec: no user has two items: no validation item, no early stopping")
            validate = False
        measured = val_users if len(val_users) <= _VALIDATION_USERS else \
            np.sort(rng.choice(val_users, _VALIDATION_USERS, replace=False))
        train_len = lengths.copy()
        train_len[val_users] -= 1
        self.text_init_ = text is not None
        net, history, best_epoch = self._run(text, train_len, cfg.epochs,
                                             measured if validate else None, seed, device)
        self.history_ = np.asarray(history, dtype=np.float64).reshape(-1, 3)
        self.best_epoch_ = int(best_epoch)
        if validate and cfg.refit:
            log.info("SASRec: refitting on every training item (the validation items too) for "
                     "%d epochs", best_epoch)
            net, _, _ = self._run(text, lengths, best_epoch, None, seed, device)
        net.eval()
        self.network_ = net
        self._scoring = None

    def _run(self, text: np.ndarray | None, lengths: np.ndarray, epochs: int,
             measured: np.ndarray | None, seed: int, device: torch.device
             ) -> tuple[SASRecNet, list[tuple[float, float, float]], int]:
        """Train a new network on the first ``lengths[u]`` items of each user's sequence;
        with ``measured`` users, stop early on their validation NDCG and keep the best epoch's
        weights. Returns the network, the history and the epoch kept."""
        import torch

        cfg = self.config_
        users = np.flatnonzero(lengths >= 2)
        if len(users) == 0:
            log.warning("SASRec: no training sequence has two items; the network keeps its "
                        "initial weights")
        warm = self.item_count_ > 0
        rng = np.random.default_rng(seed)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            net = self._new_network(None if text is None else text.shape[1]).to(device)
            if text is not None:
                net.set_text(torch.from_numpy(text))
            opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate,
                                    weight_decay=cfg.weight_decay)
            warm_t = torch.from_numpy(np.flatnonzero(warm)).to(device)
            cold_t = torch.from_numpy(np.flatnonzero(~warm)).to(device)
            history: list[tuple[float, float, float]] = []
            best, best_epoch, best_state, waited = -np.inf, 0, None, 0
            for epoch in range(1, epochs + 1):
                net.train()
                t0 = time.perf_counter()
                loss = self._epoch(net, opt, users, lengths, rng, warm_t, cold_t, device,
                                   epoch)
                t1 = time.perf_counter()
                ndcg = hr = float("nan")
                if measured is not None:
                    ndcg, hr = self._validate(net, measured, device)
                history.append((loss, ndcg, hr))
                log.info("SASRec epoch %d: loss %.4f, validation NDCG@%d %.4f, HR@%d %.4f "
                         "(%.1f s + %.1f s)", epoch, loss, _VALIDATION_N, ndcg, _VALIDATION_N,
                         hr, t1 - t0, time.perf_counter() - t1)
                if measured is None:
                    best_epoch = epoch
                    continue
                if ndcg > best:
                    best, best_epoch, waited = ndcg, epoch, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    waited += 1
                    if waited >= cfg.patience:
                        log.info("SASRec: no better validation NDCG for %d epochs; keeping "
                                 "epoch %d (%.4f)", waited, best_epoch, best)
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
        return net, history, best_epoch

    def _batches(self, users: np.ndarray, lengths: np.ndarray, rng: np.random.Generator
                 ) -> list[np.ndarray]:
        """Users grouped by sequence length (a batch is cropped to its longest), in a random
        order."""
        bs = self.config_.batch_size
        L = self.config_.max_len
        key = np.minimum(lengths[users], L + 1)
        order = users[np.lexsort((rng.random(len(users)), key))]
        batches = [order[s:s + bs] for s in range(0, len(order), bs)]
        return [batches[k] for k in rng.permutation(len(batches))]

    def _padded(self, users: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
        """The first ``lengths[u]`` items of each user's sequence, the latest ``width`` of
        them, right-padded with 0 as the network's indices (item + 1)."""
        indptr, items = self.sequence_indptr_, self.sequence_items_
        n = np.minimum(lengths[users], width)
        out = np.zeros((len(users), width), dtype=np.int64)
        ends = indptr[users] + lengths[users]
        rows = np.repeat(np.arange(len(users)), n)
        cols = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        src = np.repeat(ends - n, n) + cols
        out[rows, cols] = items[src].astype(np.int64) + 1
        return out

    def _epoch(self, net: SASRecNet, opt: torch.optim.Optimizer, users: np.ndarray,
               lengths: np.ndarray, rng: np.random.Generator, warm: torch.Tensor,
               cold: torch.Tensor, device: torch.device, epoch: int) -> float:
        """One pass over the training sequences; the mean loss per predicted position."""
        import torch
        import torch.nn.functional as F
        from tqdm.auto import tqdm

        cfg = self.config_
        L = cfg.max_len
        total, count = 0.0, 0
        batches = self._batches(users, lengths, rng)
        bar = tqdm(batches, desc=f"SASRec epoch {epoch}", unit="batch", leave=False,
                   disable=not cfg.show_progress)
        for b in bar:
            width = int(min(lengths[b].max(), L + 1))
            seq = torch.from_numpy(self._padded(b, lengths, width)).to(device)
            y = seq[:, 1:]
            # a position predicts the next item; a row's last item is an input only when
            # another follows it (so the latest input always has positional index 0)
            x = torch.where(y > 0, seq[:, :-1], 0)
            m = y > 0
            h = net.encode(x)[m]
            target = y[m] - 1
            if cfg.loss == "softmax":
                logits = h @ net.item_table()[1:].T
                if len(cold):
                    logits[:, cold] = -torch.inf
                loss = F.cross_entropy(logits, target)
            else:
                k = min(cfg.n_negatives, len(warm))  # all of a small catalogue's items
                neg = warm[torch.from_numpy(rng.choice(len(warm), k, replace=False))
                           .to(device)]
                pos = (h * net.item_rows(target + 1)).sum(dim=1, keepdim=True)
                negl = h @ net.item_rows(neg + 1).T
                negl = negl.masked_fill(neg[None, :] == target[:, None], -torch.inf)
                logits = torch.cat([pos, negl], dim=1)
                loss = F.cross_entropy(logits, torch.zeros(len(target), dtype=torch.long,
                                                           device=device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(target)
            count += len(target)
        bar.close()
        return total / max(count, 1)

    def _validate(self, net: SASRecNet, users: np.ndarray, device: torch.device
                  ) -> tuple[float, float]:
        """NDCG@10 and HR@10 of each user's held-back last item, every other item with
        training data that the user has not interacted with ranked."""
        import torch

        indptr, items = self.sequence_indptr_, self.sequence_items_
        lengths = np.diff(indptr)
        inputs = lengths.copy()
        inputs[users] -= 1
        users = users[np.argsort(inputs[users], kind="stable")]  # batches of similar length
        net.eval()
        ndcg = np.zeros(len(users))
        hit = np.zeros(len(users))
        cold = torch.from_numpy(self.item_count_ == 0).to(device)
        with torch.no_grad():
            table = net.item_table()
            out = table[1:].T
            for s in range(0, len(users), _SCORE_BATCH):
                ub = users[s:s + _SCORE_BATCH]
                width = int(min(inputs[ub].max(), self.config_.max_len))
                seq = torch.from_numpy(self._padded(ub, inputs, width)).to(device)
                S = net.last_hidden(seq, table) @ out
                t = torch.from_numpy(items[indptr[ub + 1] - 1].astype(np.int64)).to(device)
                own = S.gather(1, t[:, None])
                # the user's other training items and items without training data: not ranked
                n = lengths[ub]
                rows = torch.from_numpy(np.repeat(np.arange(len(ub)), n)).to(device)
                cols = torch.from_numpy(items[np.repeat(indptr[ub], n) + np.arange(int(n.sum()))
                                              - np.repeat(np.cumsum(n) - n, n)]
                                        .astype(np.int64)).to(device)
                S[rows, cols] = -torch.inf
                S.masked_fill_(cold[None, :], -torch.inf)
                rank = (S > own).sum(dim=1).cpu().numpy()
                ok = rank < _VALIDATION_N
                ndcg[s:s + len(ub)] = np.where(ok, 1.0 / np.log2(rank + 2.0), 0.0)
                hit[s:s + len(ub)] = ok
        return float(ndcg.mean()), float(hit.mean())

    # -- scores ----------------------------------------------------------------------------------
    def _scorer(self) -> tuple[SASRecNet, torch.Tensor]:
        """A float64 copy of the network and its item table, made once per fitted network.

        Scores are computed in float64 and rounded to float32, so that a user's scores do not
        depend on the other sequences of the batch (float32 sums in another order differ in
        the last bits; float64 ones round to the same float32).
        """
        import torch

        cached = getattr(self, "_scoring", None)
        if cached is None:
            net = copy.deepcopy(self.network_).double().eval()
            with torch.no_grad():
                table = net.item_table().detach()
            cached = (net, table)
            self._scoring = cached
        return cached

    def prepare_serving(self) -> None:
        """Build the float64 scoring copy of the network now, so that a request never waits
        for it, and set torch's intra-op CPU threads of the (serving) process to
        ``num_threads``, default 1.

        A served list scores one short sequence: splitting it over threads only adds waiting
        (on 2 busy cores, ML-100K, one sequence of 50: median 14.5 ms with 2 threads, 1.4 ms
        with 1; ``bench/sasrec_serving.py``); the service's compute threads serve requests in
        parallel.
        """
        self._check_fitted()
        self._scorer()
        if self.device_ == "cpu":
            import torch

            torch.set_num_threads(self.config_.num_threads or 1)

    def user_sequences(self, users: np.ndarray) -> list[np.ndarray]:
        """Each user's positives, oldest first (see
        :class:`~synerec.algorithms.abilities.ScoresSequence`); empty for ``-1``."""
        self._check_fitted()
        indptr, items = self.sequence_indptr_, self.sequence_items_
        return [items[indptr[u]:indptr[u + 1]].astype(np.int64) if u >= 0
                else np.zeros(0, np.int64) for u in np.asarray(users, dtype=np.int64)]

    def score_sequences(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of users given by their item sequences, oldest first (see
        :class:`~synerec.algorithms.abilities.ScoresSequence`): the network reads the latest
        ``max_len`` known items; an empty sequence gets the popularity scores."""
        import torch

        self._check_fitted()
        n_items = self.n_items_
        seqs = []
        for s in sequences:
            a = np.asarray(s, dtype=np.int64).ravel()
            if a.size and (a.min() < -1 or a.max() >= n_items):
                raise ValueError(f"item indices must be in -1..{n_items - 1}")
            seqs.append(a[a >= 0][-self.config_.max_len:])
        out = self._popularity_rows(len(seqs))
        rows = np.flatnonzero([len(s) > 0 for s in seqs])
        if len(rows) == 0:
            return out
        net, table = self._scorer()
        device = table.device
        with _torch_threads(self.config_.num_threads), torch.no_grad():
            for start in range(0, len(rows), _SCORE_BATCH):
                rb = rows[start:start + _SCORE_BATCH]
                width = max(len(seqs[r]) for r in rb)
                X = np.zeros((len(rb), width), dtype=np.int64)
                for k, r in enumerate(rb):
                    X[k, :len(seqs[r])] = seqs[r] + 1
                h = net.last_hidden(torch.from_numpy(X).to(device), table)
                out[rb] = (h @ table[1:].T).cpu().numpy().astype(np.float32)
        return out

    def score_profiles(self, profiles: sp.csr_matrix) -> np.ndarray:
        """The positives (the model's threshold) of each profile, in index order, as a
        sequence (a profile holds no order: prefer :meth:`score_sequences`)."""
        self._check_fitted()
        X = sp.csr_matrix(profiles, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_items_:
            raise ValueError(f"profiles must have {self.n_items_} columns, got shape {X.shape}")
        return super().score_profiles(positive_matrix(X, self.positive_threshold_))

    def _user_scores(self, users: np.ndarray) -> np.ndarray:
        return self.score_sequences(self.user_sequences(users))

    # -- persistence ------------------------------------------------------------------------------
    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"net.{k}": v.detach().cpu().numpy()
                  for k, v in self.network_.state_dict().items()}
        arrays.update({"sequence_indptr": self.sequence_indptr_,
                       "sequence_items": self.sequence_items_, "history": self.history_,
                       "best_epoch": np.asarray(self.best_epoch_),
                       "fit_seconds": np.asarray(self.fit_seconds_)})
        return arrays

    def _load_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        import torch

        state = {k[len("net."):]: torch.from_numpy(np.array(v))
                 for k, v in arrays.items() if k.startswith("net.")}
        text = state.get("text")
        net = self._new_network(None if text is None else int(text.shape[1]))
        net.load_state_dict(state)
        device = self._device()
        self.device_ = device.type
        self.network_ = net.to(device).eval()
        self.text_init_ = text is not None
        indptr = np.asarray(arrays["sequence_indptr"], dtype=np.int64)
        items = np.asarray(arrays["sequence_items"], dtype=np.int32)
        if indptr.shape != (self.n_users_ + 1,) or indptr[-1] != len(items):
            raise ValueError("the stored sequences do not fit the training matrix")
        self.sequence_indptr_, self.sequence_items_ = indptr, items
        self.history_ = np.asarray(arrays["history"], dtype=np.float64)
        self.best_epoch_ = int(arrays["best_epoch"])
        self.fit_seconds_ = float(arrays["fit_seconds"])
        self._scoring = None

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        out = super()._explain(user, item)
        if user >= 0:
            latest = self.user_sequences(np.asarray([user]))[0][-5:]
            out["latest_items"] = [self.items_.id(int(i)) for i in latest[::-1]]
        return out


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Torch's intra-op CPU threads set to ``n`` for the block (``0``: unchanged)."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

r"""The SASRec network in PyTorch (private: :mod:`synerec.algorithms.sasrec` is the model).

Kang & McAuley (2018): each position :math:`t` of a user's item sequence
:math:`(s_1, \dots, s_n)` is the item's embedding (times :math:`\sqrt d`) plus a learned
positional embedding; ``n_blocks`` causal self-attention blocks (pre-LN: ``x + Attn(LN(x))``,
``x + FFN(LN(x))``, dropout on both branches) and a final layer norm give :math:`h_t`, and the
score of item :math:`j` as the next item is :math:`h_t^\top e_j`, with the *same* item table
:math:`E` as the input (tied output).

Sequences are right-padded (the oldest item in the window at index 0) and the positional index
counts back from the sequence's last item (index 0 = the latest item of the window). This is
the left padding of the original code read from the other end: the latest item always has the
same positional embedding, and the causal mask alone keeps every real position away from the
padding (padding only ever follows), so no key-padding mask (and no fully masked row) is needed.

The item table
--------------
``random``: a free table :math:`E \in \mathbb{R}^{n \times d}`.

``text``: :math:`E = T W + \alpha C`: the frozen text embeddings :math:`T` (``n x d_text``,
centred, unit rows) through a projection :math:`W` (``d_text x d``; learned, or ``frozen`` at its
start), plus a learned per-item correction :math:`C` that starts at zero, scaled by
``correction_scale`` :math:`\alpha` (Adam's steps do not depend on a gradient's scale, so
:math:`\alpha` scales how fast an item may move away from its text; 0: not at all). :math:`W`
starts at random (``"random"``) or as the text's first ``d`` principal directions
(``"pca"``, :meth:`SASRecNet.set_text`), rescaled to the random start's spread. An item without
training data never gets a gradient on its row of :math:`C` (the training softmax leaves such
items out), so its embedding is its text's projection: a cold item is scored from its text.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SASRecNet"]


class _Block(nn.Module):
    """One pre-LN transformer block: causal multi-head attention, then a point-wise FFN."""

    def __init__(self, d: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d, eps=1e-8)
        self.attn = nn.MultiheadAttention(d, n_heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(d, eps=1e-8)
        self.ff = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False, is_causal=True)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.ln2(x)))


class SASRecNet(nn.Module):
    """Item table, positions, causal blocks; see the module docstring.

    Parameters
    ----------
    n_items
        Items (indices ``0 .. n_items - 1``; the network's own index is ``item + 1``, 0 pads).
    factors
        Hidden size :math:`d`.
    n_blocks, n_heads, dropout, max_len
        The transformer's shape.
    text_dim
        ``None``: a free item table; else the width of the frozen text embeddings (buffer
        ``text``, filled by :meth:`set_text`).
    init_std
        Standard deviation of the initial item table (or of the projection's output).
    correction_scale
        :math:`\alpha`, the weight of the learned correction (``text`` only).
    projection
        ``"learned"`` or ``"frozen"`` (``text`` only).
    projection_init
        ``"random"`` or ``"pca"`` (``text`` only; ``"pca"`` is applied by :meth:`set_text`).
    """

    def __init__(self, n_items: int, factors: int, n_blocks: int, n_heads: int,
                 dropout: float, max_len: int, text_dim: int | None = None,
                 init_std: float = 0.02, correction_scale: float = 1.0,
                 projection: str = "learned", projection_init: str = "random") -> None:
        super().__init__()
        self.n_items = n_items
        self.factors = factors
        self.text: torch.Tensor
        self.causal: torch.Tensor
        self.max_len = max_len
        self.init_std = init_std
        self.correction_scale = correction_scale
        self.projection_init = projection_init
        d = factors
        if text_dim is None:
            self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
            nn.init.normal_(self.item_emb.weight, std=init_std)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()
        else:
            self.register_buffer("text", torch.zeros(n_items + 1, text_dim))
            self.proj = nn.Linear(text_dim, d, bias=False)
            nn.init.normal_(self.proj.weight, std=init_std)  # unit text rows: output std ~ init_std
            self.proj.weight.requires_grad_(projection == "learned")
            self.correction = nn.Embedding(n_items + 1, d, padding_idx=0)
            nn.init.zeros_(self.correction.weight)
        self.pos_emb = nn.Embedding(max_len, d)
        nn.init.normal_(self.pos_emb.weight, std=init_std)
        self.emb_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d, n_heads, dropout) for _ in range(n_blocks))
        self.ln = nn.LayerNorm(d, eps=1e-8)
        self.register_buffer("causal", torch.triu(torch.ones(max_len, max_len, dtype=torch.bool),
                                                  diagonal=1), persistent=False)

    @property
    def uses_text(self) -> bool:
        """Whether the item table is built from text (``item_init="text"``)."""
        return hasattr(self, "proj")

    def set_text(self, text: torch.Tensor) -> None:
        """Fill the frozen text buffer (``n_items x text_dim``; the padding row stays 0); with
        ``projection_init="pca"``, start the projection at the text's principal directions."""
        with torch.no_grad():
            self.text[1:] = text.to(self.text)
            if self.projection_init == "pca":
                self.proj.weight.copy_(_pca_projection(self.text[1:], self.factors,
                                                       self.init_std, self.proj.weight))


    def item_table(self) -> torch.Tensor:
        """``(n_items + 1, d)``: row ``0`` pads, row ``i + 1`` is item ``i``."""
        if self.uses_text:
            return self.text @ self.proj.weight.T + self.correction_scale * self.correction.weight
        return self.item_emb.weight

    def item_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """``item_table()[ids]`` for network indices of any shape, without building the
        whole table."""
        if self.uses_text:
            return (self.text[ids] @ self.proj.weight.T
                    + self.correction_scale * self.correction(ids))
        return self.item_emb(ids)

    def encode(self, seqs: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``(B, L, d)`` of right-padded sequences ``(B, L)`` (0 pads).

        The positional index of a real position is its distance from the row's last item.
        ``table``: the item table when the caller has it already (scoring), else the rows
        needed are computed.
        """
        L = seqs.shape[1]
        lengths = (seqs > 0).sum(dim=1, keepdim=True)
        ar = torch.arange(L, device=seqs.device)[None, :]
        pos = (lengths - 1 - ar).clamp(min=0)
        emb = self.item_rows(seqs) if table is None else table[seqs]
        x = emb * math.sqrt(self.factors) + self.pos_emb(pos)
        x = self.emb_drop(x)
        mask = self.causal[:L, :L]
        for block in self.blocks:
            x = block(x, mask)
        return self.ln(x)

    def last_hidden(self, seqs: torch.Tensor, table: torch.Tensor | None = None
                    ) -> torch.Tensor:
        """``(B, d)``: the hidden state at each row's last item (the next item's query)."""
        h = self.encode(seqs, table)
        last = (seqs > 0).sum(dim=1) - 1
        return h[torch.arange(len(seqs), device=seqs.device), last.clamp(min=0)]


def _pca_projection(text: torch.Tensor, d: int, std: float, start: torch.Tensor) -> torch.Tensor:
    """``(d, d_text)``: the first ``d`` principal directions of the text rows as the projection's
    rows (the rows of ``start`` beyond the text's rank), scaled so that the projected rows'
    entries have standard deviation ``std`` (that of a random start)."""
    centred = text - text.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    k = min(d, vh.shape[0])
    w = start.detach().clone().double()
    w[:k] = vh[:k]
    spread = float((text.double() @ w.T).std())
    return (w * (std / spread if spread > 0 else 1.0)).to(start)

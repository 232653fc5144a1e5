"""The PyTorch network behind :class:`~aidmp.ml.recommend.sasrec.SASRec` and its training loop.

This module imports ``torch`` at the top; :mod:`aidmp.ml.recommend.sasrec` imports it only
when a model is fitted, so the rest of aidmp (and a saved model's scoring) never loads PyTorch.

The network follows Kang & McAuley (2018), "Self-Attentive Sequential Recommendation":
item embeddings plus learned positional embeddings, pre-norm self-attention blocks under a
causal mask, and the same item embeddings as the output layer. It is trained with a full
softmax cross-entropy over every item at every position of a window (the next item as the
label), which ranks better than the paper's one-negative binary loss on catalogues of a few
thousand items. Blocks are written here rather than with ``nn.TransformerEncoderLayer``
because the reasons need the last position's attention weights, which that layer discards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

NDArray = np.ndarray[Any, Any]


class Block(nn.Module):
    """One pre-norm block: causal self-attention then a position-wise feed-forward layer."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.norm1(x)
        out, weights = self.attn(h, h, h, attn_mask=mask, need_weights=need_weights,
                                 average_attn_weights=True)
        x = x + self.drop(out)
        return x + self.drop(self.ff(self.norm2(x))), weights


class Net(nn.Module):
    """SASRec: ``(batch, max_len)`` item indices (0 = padding, items from 1) to hidden states.

    Args:
        n_items: Catalogue size (the embedding table has one more row, for padding).
        max_len: Positions attended to.
        dim: Embedding and hidden width.
        blocks: Self-attention blocks.
        heads: Attention heads per block (must divide ``dim``).
        dropout: Dropout on embeddings, attention and feed-forward layers.
    """

    def __init__(self, n_items: int, max_len: int, dim: int, blocks: int, heads: int,
                 dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.item.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.item.weight[0].zero_()

    def _mask(self, seq: torch.Tensor) -> torch.Tensor:
        """(batch * heads, L, L) boolean mask, True = may not attend: later positions and
        padding, except that every position sees itself (no row is wholly masked)."""
        length = seq.shape[1]
        later = torch.triu(torch.ones(length, length, dtype=torch.bool, device=seq.device), 1)
        pad = (seq == 0)[:, None, :]
        eye = torch.eye(length, dtype=torch.bool, device=seq.device)
        mask = (later[None] | pad) & ~eye[None]
        return mask.repeat_interleave(self.heads, dim=0)

    def forward(self, seq: torch.Tensor, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hidden states (batch, L, dim), and the last block's attention (batch, L, L)."""
        positions = torch.arange(seq.shape[1], device=seq.device)
        x = self.drop(self.item(seq) * self.item.embedding_dim ** 0.5 + self.pos(positions))
        mask = self._mask(seq)
        weights = None
        for i, block in enumerate(self.blocks):
            x, weights = block(x, mask, need_weights and i == len(self.blocks) - 1)
        return self.norm(x), weights

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every real item (padding row left out) for hidden states (..., dim)."""
        return hidden @ self.item.weight[1:].T


@contextmanager
def torch_settings(seed: int | None, threads: int, deterministic: bool) -> Iterator[None]:
    """Seeded, fixed-thread torch (deterministic kernels when asked) for the duration; the
    global settings and random state are restored after."""
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if threads > 0:
            torch.set_num_threads(threads)
        # CUDA's deterministic kernels need an environment variable set before start-up; a
        # GPU fit is seeded but not bit-for-bit repeatable.
        torch.use_deterministic_algorithms(deterministic)
        try:
            yield
        finally:
            torch.set_num_threads(old_threads)
            torch.use_deterministic_algorithms(old_deterministic)


def pick_device(device: str) -> str:
    """``cuda`` when asked or, for ``auto``, when a GPU is present; else ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def train(net: Net, inputs: NDArray, targets: NDArray, *, epochs: int, batch_size: int,
          lr: float, weight_decay: float, seed: int | None, device: str) -> list[float]:
    """Train ``net`` in place with Adam on full-softmax cross-entropy; mean loss per epoch.

    Args:
        net: The network (moved to ``device``).
        inputs: (windows, L) int64 item indices, 0 = padding.
        targets: (windows, L) int64 next-item labels (0-based items), -100 where ignored.
    """
    net.to(device)
    net.train()
    x_all = torch.as_tensor(inputs, device=device)
    y_all = torch.as_tensor(targets, device=device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    order_rng = torch.Generator().manual_seed(0 if seed is None else seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=order_rng).to(device)
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            x, y = x_all[rows], y_all[rows]
            keep = y >= 0
            hidden, _ = net(x)
            loss = nn.functional.cross_entropy(net.logits(hidden[keep]), y[keep])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += float(loss.detach()) * int(keep.sum())
            count += int(keep.sum())
        losses.append(total / max(count, 1))
    return losses


@torch.no_grad()
def encode(net: Net, inputs: NDArray, device: str, batch_size: int = 512
           ) -> tuple[NDArray, NDArray]:
    """Last-position hidden state (rows, dim) and its attention over the window (rows, L)."""
    net.to(device)
    net.eval()
    states, attention = [], []
    for start in range(0, len(inputs), batch_size):
        x = torch.as_tensor(inputs[start : start + batch_size], device=device)
        hidden, weights = net(x, need_weights=True)
        states.append(hidden[:, -1].float().cpu().numpy())
        assert weights is not None
        attention.append(weights[:, -1].float().cpu().numpy())
    return (np.concatenate(states).astype(np.float32),
            np.concatenate(attention).astype(np.float32))


def state_dict_numpy(net: Net) -> dict[str, NDArray]:
    """The network's weights as CPU numpy arrays (what a saved model keeps)."""
    return {name: t.detach().cpu().numpy().copy() for name, t in net.state_dict().items()}


def load_numpy(net: Net, weights: dict[str, NDArray]) -> Net:
    """``net`` with weights from :func:`state_dict_numpy` (loads on CPU whatever fitted it)."""
    net.load_state_dict({name: torch.as_tensor(v) for name, v in weights.items()})
    return net

"""SASRec: a self-attentive sequential recommender (Kang & McAuley 2018), on PyTorch.

Each person's items are put in time order; the model reads the latest ``max_len`` of them with
causal self-attention and scores every item as the next one. Fitting trains the network
(:mod:`aidmp.ml.recommend.sasrec_net`), then encodes every person's history once: serving is a
dot product of that stored state with the item embeddings, in numpy, so top-N needs neither
PyTorch nor a forward pass. Reasons name the history items the last position attended to
most, weighted by how close each is to the recommended item ("because you viewed X, Y
recently").

PyTorch is an optional extra (``pip install 'aidmp[deep]'``) imported only by :meth:`fit` and
:meth:`SASRec.network`. A fitted model pickles as plain numpy arrays - the network's
``state_dict`` plus its parameters - so the model registry's joblib files load on any machine,
on the CPU, whatever device fitted them. A fit on the CPU with a seed is repeatable bit for bit;
``device="auto"`` trains on a GPU when PyTorch sees one.

Example:
    >>> import polars as pl
    >>> from aidmp.ml.recommend import Interactions
    >>> rows = [(f"u{u}", f"i{(u + k) % 6}", k) for u in range(12) for k in range(5)]
    >>> df = pl.DataFrame(rows, schema=["user", "item", "t"], orient="row")
    >>> data = Interactions.from_frame(df, "user", "item", time_col="t", action="viewed")
    >>> model = SASRec(max_len=4, dim=16, epochs=60, lr=0.01, dropout=0.0).fit(data)
    >>> model.recommend(["u0"], n=1).select("item_id", "reason_item_id").rows()
    [('i5', 'i4')]
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from aidmp.errors import ConfigError, ValidationError
from aidmp.ml.recommend.base import Recommender, ScoreArray
from aidmp.ml.recommend.interactions import IntArray, Interactions

__all__ = ["INSTALL_HINT", "SASRec", "item_sequences", "load_torch_net", "training_windows"]

INSTALL_HINT = "pip install 'aidmp[deep]'"
_DEVICES = ("auto", "cpu", "cuda")


def load_torch_net() -> ModuleType:
    """The network module (which imports PyTorch), or a ConfigError saying what to install.

    Raises:
        ConfigError: PyTorch is not installed.
    """
    try:
        return importlib.import_module("aidmp.ml.recommend.sasrec_net")
    except ImportError as exc:  # torch itself, or one of its own imports, is missing
        raise ConfigError(f"the deep-learning recommenders need PyTorch, which is not "
                          f"installed ({exc.name or exc}); install it with {INSTALL_HINT}",
                          field="torch") from exc


def item_sequences(data: Interactions) -> tuple[IntArray, IntArray]:
    """Every user's items in time order (ties by item position), CSR style.

    Returns:
        ``items`` (column positions, user by user) and ``indptr`` (user ``u``'s items are
        ``items[indptr[u]:indptr[u + 1]]``).

    Raises:
        ValidationError: the interactions have no times.
    """
    if data.times is None:
        raise ValidationError("a sequential recommender needs the time of every interaction; "
                              "build the Interactions with time_col", field="time_col")
    order = np.lexsort((data.items, data.times, data.users))
    counts = np.bincount(data.users, minlength=data.shape[0])
    return data.items[order].astype(np.int64), np.concatenate(([0], np.cumsum(counts)))


def training_windows(items: IntArray, indptr: IntArray, max_len: int) -> tuple[IntArray, IntArray]:
    """Cut each sequence, from its end back, into windows of ``max_len`` next-item steps.

    Returns:
        ``inputs`` (windows, max_len): item position + 1, left-padded with 0; ``targets``:
        the next item's position at each step, -100 (ignored) on padding.

    Example:
        >>> x, y = training_windows(np.array([0, 1, 2, 3]), np.array([0, 4]), 2)
        >>> x.tolist(), y.tolist()
        ([[2, 3], [0, 1]], [[2, 3], [-100, 1]])
    """
    inputs, targets = [], []
    for user in range(len(indptr) - 1):
        seq = items[indptr[user] : indptr[user + 1]]
        end = len(seq)
        while end >= 2:
            chunk = seq[max(0, end - max_len - 1) : end]
            x = np.zeros(max_len, np.int64)
            y = np.full(max_len, -100, np.int64)
            x[max_len - len(chunk) + 1 :] = chunk[:-1] + 1
            y[max_len - len(chunk) + 1 :] = chunk[1:]
            inputs.append(x)
            targets.append(y)
            end -= max_len
    if not inputs:
        return np.zeros((0, max_len), np.int64), np.zeros((0, max_len), np.int64)
    return np.stack(inputs), np.stack(targets)


def latest_windows(items: IntArray, indptr: IntArray, max_len: int) -> IntArray:
    """Each user's latest ``max_len`` items (position + 1), left-padded with 0."""
    out = np.zeros((len(indptr) - 1, max_len), np.int64)
    for user in range(len(indptr) - 1):
        seq = items[max(indptr[user], indptr[user + 1] - max_len) : indptr[user + 1]]
        if len(seq):
            out[user, max_len - len(seq) :] = seq + 1
    return out


class SASRec(Recommender):
    """Self-attentive sequential recommender: the next item from the order of past ones.

    The defaults follow the paper's MovieLens settings (2 blocks, 1 head, dropout 0.2, Adam at
    0.001, batches of 128) with ``max_len`` 50, width 64 and full-softmax training. On
    MovieLens-100K's validation item (next-item protocol of
    ``benchmarks/deep_recommend_bench.py``) 20 epochs gave NDCG@10 0.083 where the best of an
    eight-point ALS grid gave 0.070. Training cost grows with items x positions per epoch.

    Args:
        max_len: Latest items of a history the model reads (longer histories are cut into
            windows of this length for training).
        dim: Width of the item and position embeddings and of the hidden states.
        blocks: Self-attention blocks.
        heads: Attention heads per block (must divide ``dim``).
        dropout: Dropout rate in [0, 1).
        epochs: Passes over the training windows.
        batch_size: Windows per gradient step.
        lr: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        random_state: Seed of the initial weights, dropout and batch order (``None``: unseeded).
        device: ``"auto"`` (a GPU when PyTorch sees one), ``"cpu"`` or ``"cuda"``.
        num_threads: CPU threads for training (0: PyTorch's default); fix it for repeatable
            fits across machines.

    Attributes:
        weights_: The trained network's ``state_dict`` as CPU numpy arrays.
        item_vectors_: (items, dim) output item embeddings.
        user_states_: (users, dim) encoded history of every user (zeros for an empty one).
        history_: (users, max_len) the latest items read per user, -1 padding.
        attention_: (users, max_len) the last position's attention over ``history_``.
        popularity_: Users per item, the score of users with no history.
        loss_: Mean training loss per epoch.
        device_: Where it was trained.
        fit_seconds_: Wall-clock training time.
    """

    def __init__(self, max_len: int = 50, dim: int = 64, blocks: int = 2, heads: int = 1,
                 dropout: float = 0.2, epochs: int = 20, batch_size: int = 128,
                 lr: float = 0.001, weight_decay: float = 0.0, random_state: int | None = 42,
                 device: str = "auto", num_threads: int = 1) -> None:
        self.max_len = max_len
        self.dim = dim
        self.blocks = blocks
        self.heads = heads
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        for name in ("max_len", "dim", "blocks", "heads", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValidationError(f"must be a positive integer, got {value!r}", field=name)
        if self.dim % self.heads:
            raise ValidationError(f"must divide dim ({self.dim}), got {self.heads}",
                                  field="heads")
        if not 0.0 <= self.dropout < 1.0:
            raise ValidationError(f"must be in [0, 1), got {self.dropout!r}", field="dropout")
        if not self.lr > 0:
            raise ValidationError(f"must be > 0, got {self.lr!r}", field="lr")
        if not self.weight_decay >= 0:
            raise ValidationError(f"must be >= 0, got {self.weight_decay!r}",
                                  field="weight_decay")
        if self.device not in _DEVICES:
            raise ValidationError(f"unknown device {self.device!r}; valid: "
                                  f"{', '.join(_DEVICES)}", field="device")
        if (isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int)
                or self.num_threads < 0):
            raise ValidationError(f"must be an integer >= 0, got {self.num_threads!r}",
                                  field="num_threads")

    def _new_net(self, torch_net: ModuleType, n_items: int) -> Any:
        return torch_net.Net(n_items, self.max_len, self.dim, self.blocks, self.heads,
                             self.dropout)

    def _fit(self, matrix: sp.csr_matrix) -> None:
        torch_net = load_torch_net()
        items, indptr = item_sequences(self.interactions_)
        inputs, targets = training_windows(items, indptr, self.max_len)
        if len(inputs) == 0:
            raise ValidationError("no user has two or more interactions; a sequential model "
                                  "needs at least one 'next item' to learn from",
                                  field="interactions")
        self.device_: str = torch_net.pick_device(self.device)
        started = time.perf_counter()
        with torch_net.torch_settings(self.random_state, self.num_threads,
                                      deterministic=self.device_ == "cpu"):
            net = self._new_net(torch_net, matrix.shape[1])
            self.loss_: list[float] = torch_net.train(
                net, inputs, targets, epochs=self.epochs, batch_size=self.batch_size,
                lr=self.lr, weight_decay=self.weight_decay, seed=self.random_state,
                device=self.device_)
            history = latest_windows(items, indptr, self.max_len)
            states, attention = torch_net.encode(net, history, self.device_)
            self.weights_: dict[str, np.ndarray[Any, Any]] = torch_net.state_dict_numpy(net)
        self.fit_seconds_: float = time.perf_counter() - started
        self.item_vectors_: ScoreArray = np.ascontiguousarray(self.weights_["item.weight"][1:])
        empty = np.diff(indptr) == 0
        states[empty] = 0.0
        self.user_states_: ScoreArray = states
        self.history_: IntArray = history - 1
        self.attention_: ScoreArray = np.where(history > 0, attention, 0.0).astype(np.float32)
        self.popularity_: ScoreArray = np.diff(matrix.tocsc().indptr).astype(np.float32)

    def network(self) -> Any:
        """The trained ``torch.nn.Module``, rebuilt on the CPU from :attr:`weights_`.

        Raises:
            ConfigError: PyTorch is not installed.
        """
        torch_net = load_torch_net()
        n_items = len(self._data.item_ids)
        return torch_net.load_numpy(self._new_net(torch_net, n_items), self.weights_)

    def _scores(self, users: IntArray) -> ScoreArray:
        scores = self.user_states_[users] @ self.item_vectors_.T
        cold = ~self.user_states_[users].any(axis=1)
        scores[cold] = self.popularity_
        return scores

    def _explain(self, user: int, items: IntArray) -> list[tuple[str, int]]:
        history, attention = self.history_[user], self.attention_[user]
        keep = history >= 0
        if not keep.any():
            return [("popular with everyone", -1)] * len(items)
        seen, weight = history[keep], attention[keep]
        unit = normalize(self.item_vectors_[np.concatenate([seen, items])])
        closeness = np.maximum(unit[: len(seen)] @ unit[len(seen) :].T, 0.0)
        # How much each history item (row) speaks for each recommended item (column): the
        # attention it got from the last position times its likeness to the recommendation.
        share = closeness * weight[:, None]
        data = self.interactions_
        reasons = []
        for column in range(len(items)):
            order = np.argsort(-share[:, column], kind="stable")
            named: list[int] = []
            for row in order:
                if share[row, column] <= 0 or len(named) == 2:
                    break
                if int(seen[row]) not in named:
                    named.append(int(seen[row]))
            if not named:
                reasons.append(("what people did next after the same items", -1))
                continue
            labels = ", ".join(data.label(item) for item in named)
            reasons.append((f"because you {data.action} {labels} recently", named[0]))
        return reasons

    def _item_vectors(self) -> Any:
        return self.item_vectors_

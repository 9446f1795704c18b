"""What the trained network predicts: a few test images, all of them, a confusion matrix (ch. 5).

p = d2lite.predict(net, test_iter, n=12)
d2lite.show_predictions(p, lang="zh")  # true label above, prediction below, ✓/✗
C = d2lite.confusion_matrix(*d2lite.predict_all(net, test_iter))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from d2lite.fashion_mnist import get_fashion_mnist_labels
from d2lite.loaders import DeviceLoader, _resize_batch
from d2lite.models import _eval_mode
from d2lite.plot import show_images


@dataclass
class Predictions:
    """Images (28x28 originals), true labels and predicted labels of some test examples."""

    images: torch.Tensor  # (n, 28, 28) uint8 or float
    labels: torch.Tensor  # (n,)
    preds: torch.Tensor  # (n,)

    @property
    def correct(self) -> torch.Tensor:
        return self.labels == self.preds


def _originals(dataset: Any, idx: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The 28x28 originals when the dataset keeps them, else X shrunk back to 28x28."""
    images = getattr(dataset, "images", None)
    if images is not None:
        return images[idx.to(images.device)].cpu()
    return F.interpolate(X.float().cpu(), size=(28, 28), mode="area")[:, 0]


def predict(
    net: nn.Module,
    test_iter: Any,
    n: int = 6,
    device: str | torch.device | None = None,
    start: int = 0,
) -> Predictions:
    """Predict the classes of test examples ``start .. start+n-1`` (dataset order).

    The model sees what ``test_iter`` feeds it (e.g. 224x224); the returned images are the
    28x28 originals kept by the dataset, so nothing is loaded a second time.
    """
    device = next(net.parameters()).device if device is None else torch.device(device)
    dataset = getattr(test_iter, "dataset", test_iter)
    # A DeviceLoader is its own .dataset, and its len() counts batches, not examples.
    n_examples = len(dataset.images) if isinstance(dataset, DeviceLoader) else len(dataset)
    idx = torch.arange(start, min(start + n, n_examples))
    if isinstance(dataset, DeviceLoader):
        X = _resize_batch(
            dataset.images[idx.to(dataset.device)].unsqueeze(1).float() / 255, dataset.resize
        )
        y = dataset.labels[idx.to(dataset.device)]
    else:
        X, y = (torch.stack(t) for t in zip(*(dataset[int(i)] for i in idx)))
    with _eval_mode(net), torch.inference_mode():
        preds = net(X.to(device)).argmax(dim=1).cpu()
    return Predictions(_originals(dataset, idx, X), torch.as_tensor(y).cpu(), preds)


def show_predictions(p: Predictions, lang: str = "en", num_cols: int = 6, scale: float = 1.6):
    """Show predictions in a grid: true label on top, prediction below, green if right, red if
    wrong (and marked ✓/✗ so the difference does not rely on colour alone). Returns the axes."""
    trues = get_fashion_mnist_labels(p.labels, lang)
    preds = get_fashion_mnist_labels(p.preds, lang)
    ok = p.correct.tolist()
    titles = [f"{t}\n{'✓' if c else '✗'} {q}" for t, q, c in zip(trues, preds, ok)]
    colors = ["tab:green" if c else "tab:red" for c in ok]
    rows = math.ceil(len(titles) / num_cols)
    return show_images(p.images, rows, num_cols, titles, scale, colors)


def predict_all(
    net: nn.Module, data_iter: Iterable, device: str | torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """All true labels and predictions over ``data_iter`` as two CPU tensors."""
    device = next(net.parameters()).device if device is None else torch.device(device)
    ys, ps = [], []
    with _eval_mode(net), torch.inference_mode():
        for X, y in data_iter:
            ps.append(net(X.to(device)).argmax(dim=1).cpu())
            ys.append(torch.as_tensor(y).cpu())
    return torch.cat(ys), torch.cat(ps)


def confusion_matrix(
    labels: torch.Tensor, preds: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class i predicted as class j."""
    labels, preds = labels.long().flatten(), preds.long().flatten()
    return torch.bincount(
        labels * num_classes + preds, minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)

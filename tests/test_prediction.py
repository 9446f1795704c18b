"""prediction.py: predict, show_predictions, predict_all, confusion_matrix.

References: the real test labels, the model's argmax computed again here, and confusion
matrices counted by hand.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from matplotlib.colors import to_rgba
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import d2lite


class PooledNet(nn.Module):
    """Works at any image size, so it can be fed 28x28 or resized inputs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize(("resize", "device"), [(None, None), (56, None), (56, "cpu")])
def test_predict_returns_originals_labels_and_argmax(fashion_root, fashion_arrays, resize, device):
    _, test_iter = d2lite.load_data_fashion_mnist(
        64, resize, data_dir=fashion_root, subset=(64, None), device=device, num_workers=0
    )
    net = PooledNet().train()
    p = d2lite.predict(net, test_iter, n=10, start=0)
    assert net.training  # mode restored
    # The 28x28 uint8 originals, equal to the data set's images at those indices.
    assert p.images.dtype == torch.uint8 and p.images.shape == (10, 28, 28)
    assert torch.equal(p.images, fashion_arrays.test_images[:10])
    assert p.labels.tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]  # the real first test labels
    # Predictions: argmax of the model on exactly what the iterator feeds it.
    X, _ = next(iter(test_iter))
    assert X.shape[-1] == (resize or 28)
    with torch.no_grad():
        ref = net.eval()(X[:10]).argmax(1)
    assert torch.equal(p.preds, ref)
    assert torch.equal(p.correct, p.labels == p.preds)
    q = d2lite.predict(net, test_iter, n=4, start=9996)  # clipped at the end of the data set
    assert torch.equal(q.images, fashion_arrays.test_images[9996:])


def test_show_predictions_titles_and_colours():
    p = d2lite.Predictions(
        images=torch.zeros(3, 28, 28, dtype=torch.uint8),
        labels=torch.tensor([0, 1, 9]),
        preds=torch.tensor([0, 3, 9]),
    )
    axes = d2lite.show_predictions(p, num_cols=2)
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes[:3]] == [
        "t-shirt\n✓ t-shirt",
        "trouser\n✗ dress",
        "ankle boot\n✓ ankle boot",
    ]
    green, red = to_rgba("tab:green"), to_rgba("tab:red")
    assert [to_rgba(ax.title.get_color()) for ax in axes[:3]] == [green, red, green]
    zh = d2lite.show_predictions(p, lang="zh")
    assert zh[1].get_title() == "裤子\n✗ 连衣裙"


def test_predict_all_and_confusion_matrix_by_hand():
    class FirstPixel(nn.Module):
        """Predicts the class written in each image's first pixel."""

        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return F.one_hot(x[:, 0, 0, 0].long(), 4).float() + self.dummy

    labels = [0, 0, 1, 1, 1, 2, 3, 3, 2, 0, 1]
    preds = [0, 1, 1, 1, 2, 2, 3, 0, 2, 0, 3]
    X = torch.zeros(len(preds), 1, 2, 2)
    X[:, 0, 0, 0] = torch.tensor(preds, dtype=torch.float)
    loader = DataLoader(TensorDataset(X, torch.tensor(labels)), batch_size=4)
    ys, ps = d2lite.predict_all(FirstPixel(), loader)
    assert ys.tolist() == labels and ps.tolist() == preds
    hand = [[0] * 4 for _ in range(4)]
    for t, q in zip(labels, preds):
        hand[t][q] += 1
    C = d2lite.confusion_matrix(ys, ps, num_classes=4)
    assert C.tolist() == hand == [[2, 1, 0, 0], [0, 2, 1, 1], [0, 0, 2, 0], [1, 0, 0, 1]]
    assert C.sum() == len(labels) and C.diag().sum() == sum(t == q for t, q in zip(labels, preds))
    assert d2lite.confusion_matrix(torch.tensor([9]), torch.tensor([0])).shape == (10, 10)

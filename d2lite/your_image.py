"""Your own image, as Fashion-MNIST holds one: ``prepare_image`` and ``predict_image``.

    x = d2lite.prepare_image("my_shoe.jpg")       # (1, 28, 28), what the network was trained on
    d2lite.predict_image(net, "my_shoe.jpg", top=3)  # [("sneaker", 0.91), ("sandal", 0.06), ...]

Fashion-MNIST's images were made by a fixed recipe (Xiao et al., 2017): the product photo is
trimmed to the garment, its longer side is scaled to 28 pixels, it is centred on a 28x28 canvas,
made greyscale and negated, so a garment is light on a black background. A network trained on
them has only ever seen that, so any other image is first brought into the same form:

1. greyscale, with the weights of ITU-R 601 (what Pillow's "L" mode uses); transparent pixels
   count as white paper;
2. light on dark: the background is read from the image's border (the median of its outermost
   pixels) and the image is inverted when that border is light;
3. the background is taken to 0 and the brightest pixel to 1;
4. cropped to the garment (pixels above 5% of the range), its longer side scaled to 28 by area
   averaging, and centred on a black 28x28 canvas.

Every step is plain arithmetic, so ``book/_static/demo/preprocess.js`` repeats it in the browser
and ``tests/test_demo.py`` checks the two against each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from d2lite.fashion_mnist import get_fashion_mnist_labels
from d2lite.loaders import _resize_batch
from d2lite.models import _eval_mode

SIDE = 28  # Fashion-MNIST's images are 28 x 28
FOREGROUND = 0.05  # a pixel above 5% of the range belongs to the garment
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's convert("L")


class ImageError(ValueError):
    """An image that cannot be read or holds nothing to classify; the message says why."""


def _open(path: Path):
    """The image file at ``path`` as a PIL image, turned upright as its EXIF tag asks."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise ImageError(
            f"{path}: no such file. Give the path of an image file "
            "(PNG, JPEG, WebP, ... anything Pillow reads)."
        )
    try:
        with Image.open(path) as img:
            image = ImageOps.exif_transpose(img)  # as a browser shows a phone's photo
            image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise ImageError(
            f"{path}: not an image Pillow can read ({err}). Save it as PNG or JPEG and try again."
        ) from None
    return image


def _read(image: Any) -> np.ndarray:
    """An (H, W) float array in [0, 1] from a path, a PIL image, an array or a tensor."""
    if isinstance(image, (str, os.PathLike)):
        image = _open(Path(image))
    if hasattr(image, "mode") and hasattr(image, "convert"):  # a PIL image
        image = np.asarray(image.convert("RGBA"), dtype=np.float64) / 255
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array / 255
    array = array.astype(np.float64)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # (C, H, W) -> (H, W, C)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] == 4:  # transparent pixels count as white paper
        alpha = array[..., 3:]
        array = array[..., :3] * alpha + (1 - alpha)
    if array.ndim == 3 and array.shape[-1] == 3:
        array = array @ _LUMA
    if array.ndim != 2 or min(array.shape) < 1:
        raise ImageError(
            f"expected an image of H x W pixels (grey, RGB or RGBA), got an array "
            f"of shape {tuple(np.shape(image))}."
        )
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ImageError("pixel values must be finite and within 0..255 (uint8) or 0..1.")
    return array


def _area_resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area averaging as torch's adaptive_avg_pool2d does it (window i spans
    floor(i*n/m) .. ceil((i+1)*n/m)); the browser's port uses the same windows."""
    t = torch.from_numpy(x)[None, None]
    return F.adaptive_avg_pool2d(t, (height, width))[0, 0].numpy()


def prepare_image(image: Any) -> torch.Tensor:
    """Any image as Fashion-MNIST holds one: a (1, 28, 28) float32 tensor in [0, 1], the
    garment light on black, its longer side 28 pixels, centred (see the module's docstring).

    ``image``: a file path, a PIL image, or an (H, W), (H, W, 3|4) or (C, H, W) array or tensor
    of uint8 (0..255) or floats (0..1), of any size. Raises :class:`ImageError` with what was
    wrong: no such file, not an image, a blank image.
    """
    x = _read(image)
    border = np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark garment on light paper: Fashion-MNIST's is the negative
        x, background = 1 - x, 1 - background
    span = x.max() - background
    if span < 1 / 255:
        raise ImageError(
            "the image is blank: no pixel stands out from its background. Give "
            "a picture of one garment on a plain background."
        )
    x = np.clip((x - background) / span, 0, 1)
    rows = np.flatnonzero((x > FOREGROUND).any(axis=1))
    cols = np.flatnonzero((x > FOREGROUND).any(axis=0))
    x = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # the garment's bounding box
    h, w = x.shape
    scale = SIDE / max(h, w)
    h2, w2 = max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))  # as JS's Math.round
    small = _area_resize(x, h2, w2)
    canvas = np.zeros((SIDE, SIDE))
    top, left = (SIDE - h2 + 1) // 2, (SIDE - w2 + 1) // 2  # an odd margin: 1 more before
    canvas[top : top + h2, left : left + w2] = small
    return torch.from_numpy(canvas).float()[None]


def predict_image(
    model: nn.Module | str | os.PathLike, image: Any, top: int | None = None
) -> list[tuple[str, float]]:
    """The classes of ``image`` (anything :func:`prepare_image` takes), most probable first, as
    ``(name, probability)`` pairs; ``top`` keeps the first few.

    ``model``: a trained network (it sees the prepared image resized to 224 x 224, as in
    training) or the path of a model written by :func:`export_onnx` (needs onnxruntime).
    """
    x = prepare_image(image)[None]  # (1, 1, 28, 28)
    if isinstance(model, nn.Module):
        device = next(model.parameters()).device
        with _eval_mode(model), torch.inference_mode():
            probs = F.softmax(model(_resize_batch(x.to(device), 224)).float(), dim=1)[0].cpu()
    else:
        from d2lite.export import onnx_probabilities

        probs = onnx_probabilities(model, x)[0]
    order = probs.argsort(descending=True)[:top]
    names = get_fashion_mnist_labels(order.tolist())
    return [(name, float(probs[i])) for name, i in zip(names, order)]

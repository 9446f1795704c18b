"""your_image.py: any image brought into Fashion-MNIST's form (prepare_image), checked against the
data set's own images and photos made from them, and its prediction (predict_image), checked
against the training data's own pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import d2lite


@pytest.fixture(scope="module")
def test_images(fashion_arrays):
    return fashion_arrays.test_images[:500]


def diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().mean().item()


def test_the_data_sets_own_images_come_back_unchanged(test_images):
    """Fashion-MNIST's images are already in the form: trimmed, longer side 28, centred."""
    got = torch.cat([d2lite.prepare_image(img.numpy()) for img in test_images])
    want = test_images.float() / 255
    same = ((got - want).abs().amax(dim=(1, 2)) < 0.02).sum().item()  # a pixel's 5/255 at most
    assert same >= 0.85 * len(want), f"{same} of {len(want)} unchanged"
    assert diff(got, want) < 0.01


def as_photo(img: torch.Tensor, scale: int = 8, margin: int = 60) -> Image.Image:
    """A Fashion-MNIST image as a product photo: dark on white paper, large, off-centre, RGB."""
    garment = Image.fromarray(255 - img.numpy()).resize((28 * scale, 28 * scale), Image.BICUBIC)
    photo = Image.new("RGB", (28 * scale + 3 * margin, 28 * scale + margin), "white")
    photo.paste(garment.convert("RGB"), (2 * margin, margin // 3))
    return photo


def test_a_photo_of_a_garment_on_white_paper_becomes_the_garment(test_images, tmp_path):
    diffs = []
    for i in range(20):
        path = tmp_path / f"photo{i}.jpg"
        as_photo(test_images[i]).save(path, quality=92)
        got = d2lite.prepare_image(path)
        assert got.shape == (1, 28, 28) and got.dtype == torch.float32
        diffs.append(diff(got[0], test_images[i].float() / 255))
    # JPEG and two resamplings (x8 bicubic, then back by area) blur the edges a little
    assert np.mean(diffs) < 0.06 and max(diffs) < 0.15, np.round(diffs, 3)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16", "CMYK", "1"])
def test_every_colour_mode_pillow_reads(test_images, tmp_path, mode):
    photo = as_photo(test_images[0], scale=3, margin=10).convert(mode)
    suffix = ".jpg" if mode == "CMYK" else ".png" if mode != "1" else ".bmp"
    path = tmp_path / f"garment{suffix}"
    photo.save(path)
    got = d2lite.prepare_image(path)
    assert got.shape == (1, 28, 28) and got.min() == 0 and 0.5 < got.max() <= 1
    assert diff(got[0], test_images[0].float() / 255) < 0.12, mode


def test_transparent_pixels_are_paper():
    rgba = np.zeros((40, 30, 4), dtype=np.uint8)  # fully transparent black ...
    rgba[10:30, 10:20] = (20, 20, 20, 255)  # ... around an opaque dark bar, 20 x 10
    got = d2lite.prepare_image(rgba)[0]
    assert (got[:, 7:21] == 1).all() and (got[:, :7] == 0).all() and (got[:, 21:] == 0).all()


def test_arrays_and_tensors_in_any_layout_give_the_same_input(test_images):
    img = test_images[3]
    want = d2lite.prepare_image(img.numpy())
    for same in (
        img,
        img.float() / 255,
        img[None],
        img.numpy()[..., None],
        np.repeat(img.numpy()[..., None], 3, axis=2),
        Image.fromarray(img.numpy()),
    ):
        assert torch.equal(d2lite.prepare_image(same), want)


def test_a_phones_rotated_photo_is_turned_upright(test_images, tmp_path):
    photo = as_photo(test_images[5], scale=4, margin=20)
    upright = d2lite.prepare_image(photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the pixels are stored turned
    photo.transpose(Image.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    assert diff(d2lite.prepare_image(tmp_path / "phone.jpg"), upright) < 0.03


def test_bad_input_says_what_was_wrong(tmp_path):
    with pytest.raises(d2lite.ImageError, match="no such file"):
        d2lite.prepare_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(d2lite.ImageError, match="not an image Pillow can read"):
        d2lite.prepare_image(tmp_path / "notes.png")
    with pytest.raises(d2lite.ImageError, match="blank"):
        d2lite.prepare_image(np.full((50, 50), 200, dtype=np.uint8))
    with pytest.raises(d2lite.ImageError, match="shape"):
        d2lite.prepare_image(np.zeros((2, 3, 4, 5)))
    with pytest.raises(d2lite.ImageError, match="0..255"):
        d2lite.prepare_image(np.full((5, 5), 7.0))


def test_predict_image_sees_what_the_training_pipeline_feeds(fashion_root, test_images):
    """The reference: the same test images as load_data_fashion_mnist feeds them at 224."""
    net = d2lite.init_weights(d2lite.alexnet(), seed=0).eval()
    _, test_iter = d2lite.load_data_fashion_mnist(4, resize=224, data_dir=fashion_root)
    X, y = next(iter(test_iter))
    with torch.no_grad():
        want = torch.softmax(net(X), dim=1)
    for i in range(4):
        got = d2lite.predict_image(net, test_images[i].numpy())
        assert [name for name, _ in got] == d2lite.get_fashion_mnist_labels(
            want[i].argsort(descending=True)
        )
        probs = torch.tensor([p for _, p in got])
        assert torch.allclose(probs, want[i].sort(descending=True).values, atol=2e-3)
        assert abs(probs.sum().item() - 1) < 1e-5
    assert len(d2lite.predict_image(net, test_images[0].numpy(), top=3)) == 3

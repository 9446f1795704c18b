"""The demo page's test images: the first test image of each class, as 28x28 PNG files.

    python tools/demo_samples.py        # -> book/_static/demo/samples/<index>.png

Run once; the files are committed (about 3 KB in all), so the site builds without the data.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

import d2lite

OUT = Path(__file__).resolve().parents[1] / "book" / "_static" / "demo" / "samples"


def main() -> None:
    arrays = d2lite.load_fashion_mnist_arrays(download=False)
    OUT.mkdir(parents=True, exist_ok=True)
    for k in range(10):
        i = int((arrays.test_labels == k).nonzero()[0])  # the first test image of class k
        Image.fromarray(arrays.test_images[i].numpy()).save(OUT / f"{i}.png", optimize=True)
        print(f"{OUT.name}/{i}.png: {d2lite.get_fashion_mnist_labels([k])[0]}")


if __name__ == "__main__":
    main()

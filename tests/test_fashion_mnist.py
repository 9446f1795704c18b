"""fashion_mnist.py: the IDX reader, where the data is searched for, the labels.

References: torchvision's own FashionMNIST reader on the real files, published facts about
Fashion-MNIST (first labels, 6,000 images per class, pixel mean/std), and small synthetic IDX
files written by the tests. The second half checks the cases of docs/when-things-go-wrong.md,
"Data": each one's behaviour and the words the user reads.
"""

from __future__ import annotations

import gzip
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from conftest import (
    deny,
)

import d2lite

SPLITS = {  # d2lite key -> (file name, torchvision train flag, torchvision attribute)
    "train_images": ("train-images-idx3-ubyte", True, "data"),
    "train_labels": ("train-labels-idx1-ubyte", True, "targets"),
    "test_images": ("t10k-images-idx3-ubyte", False, "data"),
    "test_labels": ("t10k-labels-idx1-ubyte", False, "targets"),
}


@pytest.fixture(scope="session")
def torchvision_sets(fashion_root, tmp_path_factory):
    """torchvision's FashionMNIST (download=False) for both splits: the independent reader."""
    root = fashion_root
    raw = root / "FashionMNIST" / "raw"
    if not all((raw / name).is_file() for name, _, _ in SPLITS.values()):
        # torchvision reads only uncompressed files in <root>/FashionMNIST/raw: build that.
        files = d2lite.find_data_dir(fashion_root)
        root = tmp_path_factory.mktemp("tv")
        (root / "FashionMNIST" / "raw").mkdir(parents=True)
        for key, (name, _, _) in SPLITS.items():
            opener = gzip.open if files[key].suffix == ".gz" else open
            with opener(files[key], "rb") as src, open(root / "FashionMNIST/raw" / name, "wb") as d:
                shutil.copyfileobj(src, d)
    return {
        train: torchvision.datasets.FashionMNIST(root=str(root), train=train, download=False)
        for train in (True, False)
    }


@pytest.fixture(scope="session")
def real_file_variants(fashion_root, tmp_path_factory):
    """Each real file both plain and gzipped (the shared data ships both; else made here)."""
    files = d2lite.find_data_dir(fashion_root)
    variants = {}
    tmp = tmp_path_factory.mktemp("variants")
    for key, path in files.items():
        plain = path.with_suffix("") if path.suffix == ".gz" else path
        gz = plain.with_name(plain.name + ".gz")
        if not plain.is_file():
            plain = tmp / plain.name
            with gzip.open(gz, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
        if not gz.is_file():
            gz = tmp / gz.name
            with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst)
        variants[key] = {"plain": plain, "gz": gz}
    return variants


@pytest.mark.parametrize("compression", ["plain", "gz"])
@pytest.mark.parametrize("key", list(SPLITS))
def test_read_idx_matches_torchvision(key, compression, real_file_variants, torchvision_sets):
    _, train, attr = SPLITS[key]
    ours = d2lite.read_idx(real_file_variants[key][compression])
    theirs = getattr(torchvision_sets[train], attr)
    assert ours.dtype == torch.uint8
    assert ours.shape == theirs.shape
    assert torch.equal(ours.long(), theirs.long())


def test_real_data_known_facts(fashion_arrays):
    a = fashion_arrays
    assert isinstance(a, d2lite.FashionMNISTArrays)
    assert a.train_images.shape == (60000, 28, 28) and a.test_images.shape == (10000, 28, 28)
    assert a.train_images.dtype == a.train_labels.dtype == torch.uint8
    assert a.train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert a.test_labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert torch.bincount(a.train_labels.long()).tolist() == [6000] * 10
    assert torch.bincount(a.test_labels.long()).tolist() == [1000] * 10
    x = a.train_images.double() / 255
    assert x.mean().item() == pytest.approx(0.2860, abs=5e-4)
    assert x.std().item() == pytest.approx(0.3530, abs=5e-4)


def test_arrays_are_cached(fashion_root, fashion_arrays):
    assert d2lite.load_fashion_mnist_arrays(fashion_root, download=False) is fashion_arrays


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Four empty candidate folders; the project and Debian ones patched into d2lite."""
    p = {name: tmp_path / name for name in ("arg", "env", "project", "debian")}
    for folder in p.values():
        folder.mkdir()
    monkeypatch.delenv("D2LITE_DATA", raising=False)
    monkeypatch.setattr(d2lite.fashion_mnist, "_project_data_dir", lambda: p["project"])
    monkeypatch.setattr(d2lite.fashion_mnist, "DEBIAN_DATA_DIR", p["debian"])

    def no_network(target):
        raise AssertionError(f"_download({target}) must not be called here")

    monkeypatch.setattr(d2lite.fashion_mnist, "_download", no_network)
    return p


LAYOUTS = ["direct", "raw", "FashionMNIST/raw"]


def _sub(folder: Path, layout: str) -> Path:
    return folder if layout == "direct" else folder / layout


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_found_and_read(layout, gz, places, write_fake_fashion):
    written = write_fake_fashion(places["arg"], layout, gz=gz, seed=3)
    files = d2lite.find_data_dir(places["arg"])
    assert files is not None
    assert {p.parent for p in files.values()} == {_sub(places["arg"], layout)}
    assert all((p.suffix == ".gz") == gz for p in files.values())
    arrays = d2lite.load_fashion_mnist_arrays(places["arg"], download=False)
    assert arrays.source == str(_sub(places["arg"], layout))
    assert np.array_equal(arrays.train_images.numpy(), written["train-images-idx3-ubyte"])
    assert np.array_equal(arrays.train_labels.numpy(), written["train-labels-idx1-ubyte"])
    assert np.array_equal(arrays.test_images.numpy(), written["t10k-images-idx3-ubyte"])
    assert np.array_equal(arrays.test_labels.numpy(), written["t10k-labels-idx1-ubyte"])


def test_search_order_arg_env_project_debian(places, monkeypatch, write_fake_fashion):
    # A different layout and compression in each place, so every combination is exercised.
    write_fake_fashion(places["arg"], "direct", gz=True, seed=1)
    write_fake_fashion(places["env"], "raw", gz=False, seed=2)
    write_fake_fashion(places["project"], "FashionMNIST/raw", gz=True, seed=3)
    write_fake_fashion(places["debian"], "direct", gz=True, seed=4)
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))

    def source(arg=None):
        return d2lite.load_fashion_mnist_arrays(arg, download=False).source

    assert source(places["arg"]) == str(places["arg"])  # 1. explicit argument
    assert source() == str(places["env"] / "raw")  # 2. $D2LITE_DATA
    monkeypatch.delenv("D2LITE_DATA")
    assert source() == str(places["project"] / "FashionMNIST" / "raw")  # 3. project folder
    shutil.rmtree(places["project"])
    assert source() == str(places["debian"])  # 4. Debian's folder
    # An argument that holds nothing falls through to the next places.
    assert source(places["arg"] / "missing") == str(places["debian"])


def test_download_goes_into_first_explicit_place(places, monkeypatch, write_fake_fashion):
    calls = []

    def fake_download(target: Path):
        calls.append(Path(target))
        write_fake_fashion(target, "FashionMNIST/raw", gz=True, seed=len(calls))
        raw = Path(target) / "FashionMNIST" / "raw"
        return {k: raw / f"{n}.gz" for k, n in d2lite.FASHION_MNIST_FILES.items()}

    monkeypatch.setattr(d2lite.fashion_mnist, "_download", fake_download)
    # No argument, no $D2LITE_DATA: into the project's folder.
    a = d2lite.load_fashion_mnist_arrays()
    assert calls == [places["project"]] and len(a.train_images) == 12
    shutil.rmtree(places["project"])
    places["project"].mkdir()
    # $D2LITE_DATA beats the project folder.
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))
    d2lite.load_fashion_mnist_arrays()
    assert calls[-1] == places["env"]
    # The argument beats both (emptied first: otherwise the search finds $D2LITE_DATA's copy).
    shutil.rmtree(places["env"])
    a = d2lite.load_fashion_mnist_arrays(places["arg"])
    assert calls[-1] == places["arg"]
    assert a.source == str(places["arg"] / "FashionMNIST" / "raw")
    # Once there, it is found without downloading again.
    d2lite.load_fashion_mnist_arrays(places["arg"])
    assert len(calls) == 3


def test_not_found_offline_names_every_place_and_the_fixes(places, monkeypatch):
    def offline(target):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(d2lite.fashion_mnist, "_download", offline)
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_fashion_mnist_arrays(places["arg"])
    msg = str(err.value)
    for folder in places.values():
        assert str(folder) in msg
    assert "Network is unreachable" in msg and "D2LITE_DATA" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert isinstance(err.value, FileNotFoundError)  # catchable the ordinary way too
    with pytest.raises(d2lite.DataNotFoundError, match="download=False"):
        d2lite.load_data_fashion_mnist(8, data_dir=places["arg"], download=False)


def test_truncated_files_raise_naming_the_file(tmp_path, write_idx):
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    plain = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    plain.write_bytes(plain.read_bytes()[:-100])
    with pytest.raises(d2lite.DataError, match="truncated") as err:
        d2lite.read_idx(plain)
    assert str(plain) in str(err.value)
    gz = write_idx(tmp_path / "t10k-images-idx3-ubyte", images, gz=True)
    gz.write_bytes(gz.read_bytes()[:-20])  # cut inside the deflate stream / trailer
    with pytest.raises(d2lite.DataError) as err:
        d2lite.read_idx(gz)
    assert str(gz) in str(err.value)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(d2lite.DataError, match="truncated"):
        d2lite.read_idx(tiny)


def test_wrong_magic_raises(tmp_path, write_idx):
    path = write_idx(tmp_path / "x-idx1-ubyte", np.zeros(4, np.uint8), magic=0x00000D01)
    with pytest.raises(d2lite.DataError, match="magic number 3329") as err:
        d2lite.read_idx(path)
    assert str(path) in str(err.value)


def test_count_mismatch_raises(tmp_path, write_fake_fashion, write_idx):
    write_fake_fashion(tmp_path, "direct", n_train=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))  # 12 images
    with pytest.raises(d2lite.DataError, match="12 images but .* 11 labels"):
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)


def test_labels_en_zh_and_unknown_language():
    assert d2lite.get_fashion_mnist_labels([0, 9, 5]) == ["t-shirt", "ankle boot", "sandal"]
    assert d2lite.get_fashion_mnist_labels(torch.tensor([1, 8]), lang="zh") == ["裤子", "包"]
    assert d2lite.get_fashion_mnist_labels(torch.arange(10), "en") == d2lite.TEXT_LABELS["en"]
    assert len(d2lite.TEXT_LABELS["zh"]) == len(set(d2lite.TEXT_LABELS["zh"])) == 10
    with pytest.raises(ValueError, match="lang"):
        d2lite.get_fashion_mnist_labels([0], lang="fr")


def test_debians_folder_is_searched_last():
    assert d2lite.DEBIAN_DATA_DIR == Path("/usr/share/datasets/fashion-mnist")
    places = d2lite.fashion_mnist._candidate_dirs("here")
    assert [folder for _, folder in places][0] == Path("here")
    assert places[-1] == ("Debian's dataset-fashion-mnist package", d2lite.DEBIAN_DATA_DIR)


def test_file_names_constant():
    assert d2lite.FASHION_MNIST_FILES == {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }


# ----------------------------------------------------------------------------------------------
# Dataset problems, as the user meets them (docs/when-things-go-wrong.md)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Fashion-MNIST anywhere: every searched folder is empty. Returns the folders."""
    places = {name: tmp_path / name for name in ("env", "project", "debian")}
    for folder in places.values():
        folder.mkdir()
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))
    monkeypatch.setattr(d2lite.fashion_mnist, "_project_data_dir", lambda: places["project"])
    monkeypatch.setattr(d2lite.fashion_mnist, "DEBIAN_DATA_DIR", places["debian"])
    return places


def _assert_explains_not_found(err, places: dict) -> str:
    message = str(err.value)
    for folder in places.values():
        assert str(folder) in message
    for fix in (
        "export D2LITE_DATA=",
        "apt-get install dataset-fashion-mnist",
        "connect to the internet",
    ):
        assert fix in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained traceback
    assert isinstance(err.value, FileNotFoundError)  # and a DataError
    return message


def test_no_data_and_no_network(nowhere, monkeypatch):
    def offline(target):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(d2lite.fashion_mnist, "_download", offline)
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_data_fashion_mnist(32)
    message = _assert_explains_not_found(err, nowhere)
    assert "the download into" in message and "URLError" in message


def test_no_data_and_no_network_through_torchvision(nowhere, monkeypatch, capsys):
    """The real download path, with the network cut where torchvision reaches it."""
    pytest.importorskip("torchvision")

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_fashion_mnist_arrays()
    _assert_explains_not_found(err, nowhere)
    assert "download into" in str(err.value) and "Network is unreachable" in str(err.value)


def test_no_data_with_download_off(nowhere):
    with pytest.raises(d2lite.DataNotFoundError, match="download=False") as err:
        d2lite.load_fashion_mnist_arrays(download=False)
    _assert_explains_not_found(err, nowhere)


def test_a_relative_data_path_shows_where_it_pointed(nowhere, tmp_path, monkeypatch):
    """A notebook runs in its own folder, so D2LITE_DATA=../shared/data set in the shell points
    somewhere else there: the message shows the absolute path it meant and the current folder."""
    here = tmp_path / "book" / "en"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    monkeypatch.setenv("D2LITE_DATA", "../shared/data")
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_fashion_mnist_arrays(download=False)
    message = str(err.value)
    assert f"$D2LITE_DATA: ../shared/data (relative, so {here}/../shared/data" in message
    assert f"from the current folder {here};" in message and "absolute path" in message
    assert f"the project's data folder: {nowhere['project']}\n" in message  # absolute: as is


@pytest.mark.parametrize("gz", [False, True])
def test_a_truncated_file_is_named(tmp_path, write_fake_fashion, gz):
    write_fake_fashion(tmp_path, gz=gz)
    images = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = gzip.decompress(images.read_bytes()) if gz else images.read_bytes()
    cut = raw[: len(raw) - 100]
    images.write_bytes(gzip.compress(cut) if gz else cut)
    with pytest.raises(d2lite.DataError, match="is truncated") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(images) in str(err.value) and "copy or download it again" in str(err.value)


def test_a_cut_gzip_stream_is_named(tmp_path, write_fake_fashion):
    write_fake_fashion(tmp_path, gz=True)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-12])  # a download that stopped early
    with pytest.raises(d2lite.DataError, match="damaged or unreadable") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(labels) in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_a_wrong_magic_number_is_named(tmp_path, write_fake_fashion, write_idx, gz):
    write_fake_fashion(tmp_path, gz=gz)
    name = "train-images-idx3-ubyte"
    (tmp_path / (name + (".gz" if gz else ""))).unlink()
    bad = write_idx(tmp_path / name, np.zeros((4, 28, 28), np.uint8), gz=gz, magic=0x504B0304)
    with pytest.raises(d2lite.DataError, match="not a Fashion-MNIST IDX file") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(bad) in str(err.value)
    assert f"magic number {0x504B0304}" in str(err.value) and "2051" in str(err.value)


def test_image_and_label_counts_that_disagree(tmp_path, write_fake_fashion, write_idx):
    write_fake_fashion(tmp_path, n_train=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(d2lite.DataError, match="holds 12 images but") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert "holds 11 labels" in str(err.value)
    assert str(tmp_path / "train-labels-idx1-ubyte") in str(err.value)


def test_an_unreadable_data_folder(tmp_path, write_fake_fashion, monkeypatch, nowhere):
    folder = tmp_path / "locked"
    write_fake_fashion(folder, layout="FashionMNIST/raw")
    deny(monkeypatch, folder / "FashionMNIST", ("stat", "open", "scandir", "listdir"))
    with pytest.raises(d2lite.DataError, match="permission denied") as err:
        d2lite.load_fashion_mnist_arrays(folder, download=False)
    message = str(err.value)
    assert str(folder) in message and "chmod -R a+rX" in message and "D2LITE_DATA" in message
    assert not isinstance(err.value, FileNotFoundError)  # it is there, just not readable
    assert err.value.__cause__ is None


@pytest.mark.parametrize("gz", [False, True])
def test_an_unreadable_data_file(tmp_path, write_fake_fashion, monkeypatch, gz):
    write_fake_fashion(tmp_path, gz=gz)
    images = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    deny(monkeypatch, images, ("open",))
    with pytest.raises(d2lite.DataError, match="permission denied") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(images) in str(err.value) and "chmod a+r" in str(err.value)

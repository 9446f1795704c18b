"""run/predict_export.py: `python -m d2lite predict | export` from a terminal.

References: PyTorch's own forward pass on real test images, the JSON the command prints, and the
exit statuses of docs/when-things-go-wrong.md (1 with one line and no traceback for a bad path
or image). A LeNet trained for a moment (conftest's ``trained_lenet``) stands in for AlexNet
where the model's size does not matter; the last test goes through AlexNet end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, cli_env, onnx_reference
from PIL import Image

import d2lite

pytest.importorskip("onnx", reason="the optional extra: pip install 'd2lite[onnx]'")


# --- python -m d2lite predict | export ----------------------------------------------------------


def cli(args, fashion_root, **kw):
    return subprocess.run(
        [sys.executable, "-m", "d2lite", *args],
        cwd=ROOT,
        env=cli_env(fashion_root),
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


@pytest.fixture(scope="module")
def lenet_onnx(trained_lenet, tmp_path_factory):
    """predict --onnx takes any model export_onnx wrote; a LeNet one is quick to write."""
    return d2lite.export_onnx(trained_lenet, tmp_path_factory.mktemp("m") / "lenet.onnx", size=28)


def test_predict_prints_the_top_classes_and_json(
    lenet_onnx, trained_lenet, fashion_arrays, fashion_root, tmp_path
):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"garment{i}.png")
        Image.fromarray(fashion_arrays.test_images[i].numpy()).save(paths[-1])
    want = onnx_reference(trained_lenet, fashion_arrays.test_images[:3].float().div(255)[:, None])
    names = d2lite.get_fashion_mnist_labels(want.argmax(1))
    text = cli(["predict", "--onnx", str(lenet_onnx), *map(str, paths)], fashion_root)
    assert text.returncode == 0, text.stderr
    assert f"model: ONNX {lenet_onnx}" in text.stderr
    lines = text.stdout.splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == [n.split()[0] for n in names]
    out = cli(
        ["predict", "--onnx", str(lenet_onnx), "--json", "--top", "2", str(paths[0])], fashion_root
    )
    (result,) = json.loads(out.stdout)
    assert result["top"][0]["class"] == names[0] and len(result["top"]) == 2
    assert result["top"][0]["probability"] == pytest.approx(want[0].max().item(), abs=2e-3)


def test_predict_reports_a_bad_image_and_goes_on(
    lenet_onnx, fashion_arrays, fashion_root, tmp_path
):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.fromarray(fashion_arrays.test_images[0].numpy()).save(good)
    bad.write_text("not an image")
    out = cli(["predict", "--onnx", str(lenet_onnx), "--json", str(bad), str(good)], fashion_root)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{bad}: " in out.stderr and "not an image Pillow can read" in out.stderr
    first, second = json.loads(out.stdout)
    assert "error" in first and second["top"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["predict", "missing.png"], "No such image file: missing.png"),
        (["predict", "--onnx", "nowhere.onnx", "README.md"], "nowhere.onnx does not exist"),
        (["predict", "--checkpoint", "nowhere.pt", "README.md"], "checkpoint nowhere.pt does not"),
        (["export", "--checkpoint", "nowhere.pt", "--onnx", "m.onnx"], "nowhere.pt does not exist"),
        (["predict", "--top", "11", "README.md"], "invalid choice"),
    ],
)
def test_bad_paths_and_options_exit_with_one_line(args, words, capsys, monkeypatch):
    """In this process (d2lite.main, as `python -m d2lite` runs it): the exit status and the
    one line on stderr; argparse's own errors exit 2, the command's exit 1."""
    monkeypatch.chdir(ROOT)
    try:
        status = d2lite.main(args)
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    assert status == (2 if words == "invalid choice" else 1)
    last = err.strip().splitlines()[-1]  # argparse prints its usage above the error line
    assert last.startswith("python -m d2lite ") and words in last and "Traceback" not in err


def test_export_from_a_checkpoint_checks_parity_and_predict_uses_it(fashion_root, tmp_path):
    """The command line end to end on AlexNet: a checkpoint, its ONNX model, a prediction."""
    ckpt = d2lite.save_checkpoint(tmp_path / "run.pt", d2lite.init_weights(d2lite.alexnet()))
    out = cli(
        ["export", "--checkpoint", str(ckpt), "--onnx", str(tmp_path / "a.onnx"), "--check", "8"],
        fashion_root,
    )
    assert out.returncode == 0, out.stderr
    assert "matches PyTorch on 8 test images" in out.stdout and (tmp_path / "a.onnx").is_file()
    Image.fromarray(d2lite.load_fashion_mnist_arrays(fashion_root).test_images[0].numpy()).save(
        tmp_path / "g.png"
    )
    by_ckpt = cli(
        ["predict", "--checkpoint", str(ckpt), "--json", str(tmp_path / "g.png")], fashion_root
    )
    by_onnx = cli(
        ["predict", "--onnx", str(tmp_path / "a.onnx"), "--json", str(tmp_path / "g.png")],
        fashion_root,
    )
    a, b = json.loads(by_ckpt.stdout)[0]["top"], json.loads(by_onnx.stdout)[0]["top"]
    assert a[0]["class"] == b[0]["class"]
    assert a[0]["probability"] == pytest.approx(b[0]["probability"], abs=1e-3)

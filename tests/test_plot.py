"""plot.py: figures, set_axes, Chinese labels, the Animator.

References: matplotlib's own objects (axes, titles, colours, limits), and a simulated Jupyter
display (a fake ``display`` that hands out an updatable handle).
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.colors import to_rgba

import d2lite


def test_show_images_returns_axes_with_titles_and_colours():
    imgs = [
        torch.rand(28, 28),
        torch.rand(1, 28, 28),
        np.zeros((28, 28)),
        torch.rand(28, 28),
        torch.rand(28, 28),
    ]
    titles = ["a", "b", "c", "d", "e"]
    colors = ["tab:green", "tab:red", "tab:green", "tab:red", "tab:green"]
    axes = d2lite.show_images(imgs, 2, 3, titles, title_colors=colors)
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes[:5]] == titles
    assert [to_rgba(ax.title.get_color()) for ax in axes[:5]] == [to_rgba(c) for c in colors]
    assert np.allclose(axes[1].images[0].get_array(), imgs[1][0].numpy())
    assert not axes[5].axison and not axes[5].images  # the spare cell is blank
    plain = d2lite.show_images(imgs[:2], 1, 2, ["x", "y"])  # no colours: the default colour
    assert to_rgba(plain[0].title.get_color()) == to_rgba(
        mpl.rcParams["axes.titlecolor"]
        if mpl.rcParams["axes.titlecolor"] != "auto"
        else mpl.rcParams["text.color"]
    )


def test_set_axes():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    ax.plot([1, 2], [1, 10])
    ax.plot([1, 2], [2, 20])
    d2lite.set_axes(ax, "epoch", "loss", [1, 2], [0.5, 30], "linear", "log", ["a", "b"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss")
    assert ax.get_xlim() == (1, 2) and ax.get_ylim() == (0.5, 30) and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_set_axes_without_limits_keeps_autoscaling_for_shared_axes():
    """Chapter 4's dropout figure: three panels sharing their y-axis, each labelled with
    set_axes and no ylim. The last panel's curve goes highest; every panel must still show it
    (a set_ylim(None) would have frozen the limits of the first panel's curves)."""
    import matplotlib.pyplot as plt

    _, axes = plt.subplots(1, 3, sharey=True)
    for top, ax in zip((1.0, 2.0, 9.0), axes):
        ax.plot([0, 1], [0, top])
        d2lite.set_axes(ax, xlabel="epoch", ylabel="accuracy" if top == 1.0 else None)
    assert all(ax.get_autoscaley_on() and ax.get_ylim()[1] >= 9.0 for ax in axes)
    assert axes[1].get_ylabel() == "" and axes[0].get_ylabel() == "accuracy"


def _glyph_warnings(text: str) -> list[str]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title(text)
    ax.set_xlabel("训练损失 −1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    return [str(w.message) for w in caught if "Glyph" in str(w.message)]


def test_use_cjk_font_draws_chinese_without_missing_glyphs():
    with mpl.rc_context():  # use_cjk_font changes rcParams: keep that inside this test
        mpl.rcParams["font.family"] = "sans-serif"
        mpl.rcParams["font.sans-serif"] = ["DejaVu Sans"]
        # Control: without a CJK font the check does see the missing glyphs.
        assert _glyph_warnings("运动鞋 ✗ 短靴")
        assert d2lite.use_cjk_font() == "Noto Sans CJK SC"
        assert mpl.rcParams["font.sans-serif"][0] == "Noto Sans CJK SC"
        assert _glyph_warnings("运动鞋 ✓ 短靴 ✗ T恤") == []


def test_animator_headless_records_and_prints_one_line_per_epoch(capsys):
    out = io.StringIO()
    anim = d2lite.Animator(
        xlabel="epoch", legend=["train loss", "train acc", "test acc"], out=out, live=False
    )
    for x, y in [
        (0.5, (2.0, 0.3, None)),
        (1, (1.0, 0.5, 0.55)),
        (1.5, (0.8, 0.6, None)),
        (2, (0.6, 0.7, 0.72)),
    ]:
        anim.add(x, y)
    assert out.getvalue().splitlines() == [
        "epoch 1: train loss 1.000, train acc 0.500, test acc 0.550",
        "epoch 2: train loss 0.600, train acc 0.700, test acc 0.720",
    ]
    assert anim.X == [[0.5, 1, 1.5, 2], [0.5, 1, 1.5, 2], [1, 2]]
    assert anim.Y == [[2.0, 1.0, 0.8, 0.6], [0.3, 0.5, 0.6, 0.7], [0.55, 0.72]]
    assert anim.fig is None  # nothing drawn headless until asked
    fig = anim.figure()
    assert [list(line.get_xdata()) for line in fig.axes[0].get_lines()] == anim.X
    # Default output is stdout; a single scalar works too.
    plain = d2lite.Animator(live=False)
    plain.add(1, 0.25)
    plain.add(1.25, 0.5)
    assert capsys.readouterr().out == "x 1: y0 0.250\n"


def test_animator_in_simulated_jupyter_updates_one_handle(monkeypatch):
    import IPython.display

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def fake_display(obj, display_id=None):
        shown.append((obj, display_id))
        return Handle()

    def no_clear(*args, **kwargs):
        raise AssertionError("clear_output would keep only the last frame in the notebook")

    monkeypatch.setattr(d2lite.plot, "_in_jupyter", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(IPython.display, "clear_output", no_clear)
    anim = d2lite.Animator(xlabel="epoch", legend=["loss", "acc"])
    assert anim.live
    points = [(0.5, (1.0, 0.4)), (1, (0.8, 0.6)), (1.5, (0.7, None)), (2, (0.5, 0.8))]
    for x, y in points:
        anim.add(x, y)
    assert len(shown) == 1 and shown[0][1] is True  # displayed once, with a display id
    assert len(updates) == len(points) - 1 and all(f is shown[0][0] for f in updates)
    lines = anim.figure().axes[0].get_lines()
    assert [list(line.get_xdata()) for line in lines] == [[0.5, 1, 1.5, 2], [0.5, 1, 2]]
    assert [list(line.get_ydata()) for line in lines] == [[1.0, 0.8, 0.7, 0.5], [0.4, 0.6, 0.8]]
    assert [t.get_text() for t in anim.axes.get_legend().get_texts()] == ["loss", "acc"]


def test_in_jupyter_is_false_in_pytest():
    assert d2lite.plot._in_jupyter() is False
    assert d2lite.Animator().live is False


def test_glue_is_read_back_by_myst_nb_and_hidden_in_jupyter(tmp_path):
    """A notebook run by a real kernel; myst-nb's own reader finds the glued value."""
    import jupytext
    import nbformat
    from myst_nb.ext.glue import extract_glue_data_cell

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import execute_notebooks

    path = tmp_path / "glued.ipynb"
    source = "# %%\nimport d2lite\nacc = d2lite.glue('val_acc', 0.8431)\nprint(acc)\n"
    jupytext.write(jupytext.reads(source, fmt="py:percent"), path)
    execute_notebooks.execute(path)
    cell = nbformat.read(path, as_version=4).cells[0]
    shown = [o for o in cell.outputs if o.output_type == "display_data"]
    assert [o.data["text/plain"] for o in shown] == [""]  # nothing for JupyterLab to show
    assert cell.outputs[-1].text == "0.8431\n"  # glue returns the value
    ((key, output),) = extract_glue_data_cell(cell)
    assert key == "val_acc" and output["data"]["text/plain"] == "0.8431"
    assert all("scrapbook" not in o.get("metadata", {}) for o in cell.outputs)  # not on the page


def test_glue_outside_ipython_only_returns_the_value(capsys):
    assert d2lite.glue("x", 3) == 3
    assert capsys.readouterr().out == ""

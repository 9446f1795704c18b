"""Pictures: image grids, axes in one call, a live training plot, Chinese labels; and ``glue``,
which keeps a computed figure for the page's prose.

    d2lite.show_images(images, 2, 9, titles=d2lite.get_fashion_mnist_labels(labels))
    animator = d2lite.Animator(xlabel="epoch", legend=["train loss", "train acc", "val acc"])
    animator.add(epoch + 1, (loss, train_acc, val_acc))

matplotlib's pyplot is imported inside the functions that draw, never at ``import d2lite``: a
script that only trains chooses no plotting backend.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

_CJK_FAMILIES = [
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Microsoft YaHei",
    "SimHei",
    "Noto Sans CJK JP",
]


def use_cjk_font() -> str | None:
    """Make matplotlib draw Chinese with a real CJK font; return its family name or None.

    It uses, in order: Noto Sans CJK SC from the ``mplfonts`` package (SIL Open Font
    License, installed by requirements.txt), then a CJK font the system already has. With
    none, it warns once, says how to install one, and returns None: Chinese text would show
    as empty boxes, so callers should fall back to English labels.
    """
    import importlib.util

    import matplotlib as mpl
    from matplotlib import font_manager

    spec = importlib.util.find_spec("mplfonts")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            font = Path(folder) / "fonts" / "NotoSansCJKsc-Regular.otf"
            if font.is_file():
                font_manager.fontManager.addfont(str(font))
    available = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in available:
            current = [f for f in mpl.rcParams["font.sans-serif"] if f != family]
            mpl.rcParams["font.sans-serif"] = [family, *current]
            # Two named families, not "sans-serif": matplotlib falls back glyph by glyph only
            # across the named ones, so symbols the CJK font lacks (✗ U+2717) come from DejaVu.
            mpl.rcParams["font.family"] = [family, "DejaVu Sans"]
            mpl.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
            return family
    warnings.warn(
        "No CJK font found, so Chinese plot labels would show as boxes. Install one with "
        "`pip install mplfonts` (Noto Sans CJK, SIL OFL) or `apt-get install fonts-noto-cjk`.",
        stacklevel=2,
    )
    return None


def set_axes(
    axes,
    xlabel=None,
    ylabel=None,
    xlim=None,
    ylim=None,
    xscale="linear",
    yscale="linear",
    legend=None,
) -> None:
    """Label and scale one matplotlib ``Axes``, then add the legend and a grid.

    A limit is set only where one is given: a limit of None leaves matplotlib's autoscaling on,
    so curves drawn afterwards, here or on axes that share this one's x or y axis, still fit.
    """
    limits = {name: value for name, value in (("xlim", xlim), ("ylim", ylim)) if value is not None}
    axes.set(xlabel=xlabel, ylabel=ylabel, xscale=xscale, yscale=yscale, **limits)
    if legend:
        axes.legend(legend)
    axes.grid(True)


def show_images(
    imgs: Sequence,
    num_rows: int,
    num_cols: int,
    titles: Sequence[str] | None = None,
    scale: float = 1.5,
    title_colors: Sequence[str] | None = None,
    cmap: str = "gray",
):
    """Draw images in a grid and return the flat array of axes.

    ``imgs`` may be tensors (H, W) or (1, H, W), NumPy arrays or PIL images.
    ``title_colors`` colours each title (e.g. green for right, red for wrong).
    """
    import matplotlib.pyplot as plt

    # Each row is one image tall plus room for its titles' lines (9 pt text is about 0.16 inch a
    # line), so two-line titles such as "true\npredicted" never touch the image above them.
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    figsize = (num_cols * scale, num_rows * (scale + 0.16 * lines))
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False, layout="constrained")
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        if torch.is_tensor(img):
            img = img.detach().cpu().squeeze().numpy()
        ax.imshow(img, cmap=cmap)
        ax.axis("off")
        if titles is not None and i < len(titles):
            color = {} if title_colors is None else {"color": title_colors[i]}  # None is no colour
            ax.set_title(titles[i], fontsize=9, **color)
    for ax in axes[len(imgs) :]:
        ax.axis("off")
    return axes


def _in_jupyter() -> bool:
    """True inside a Jupyter kernel (where rich display works), False in scripts and CI."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Animator:
    """A live plot of several curves that works in Jupyter, in scripts and in CI.

    In Jupyter it draws one figure and updates it in place through a display handle, so the
    saved notebook (and the website) keep the final curves. Elsewhere it records the points
    and prints one line each time ``x`` reaches a whole number (an epoch). ``add`` takes one
    value per curve; ``None`` skips that curve at this x::

        animator.add(epoch + (i + 1) / num_batches, (train_l, train_acc, None))
    """

    def __init__(
        self,
        xlabel: str | None = None,
        ylabel: str | None = None,
        legend: Sequence[str] | None = None,
        xlim=None,
        ylim=None,
        xscale: str = "linear",
        yscale: str = "linear",
        fmts: Sequence[str] = ("-", "m--", "g-.", "r:"),
        figsize=(4.5, 3.0),
        live: bool | None = None,
        out=None,
    ):
        self.legend = list(legend) if legend else []
        self.axes_kw = dict(
            xlabel=xlabel,
            ylabel=ylabel,
            xlim=xlim,
            ylim=ylim,
            xscale=xscale,
            yscale=yscale,
            legend=self.legend,
        )
        self.fmts, self.figsize = tuple(fmts), figsize
        self.live = _in_jupyter() if live is None else live
        self.out = out  # where headless lines go (default sys.stdout)
        self.X: list[list[float]] = []
        self.Y: list[list[float]] = []
        self.fig = self.axes = self._handle = None

    def add(self, x: float, y: float | Sequence[float | None]) -> None:
        """Add one point per curve at ``x``, then redraw (Jupyter) or maybe print (elsewhere)."""
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        if not self.X:
            self.X = [[] for _ in ys]
            self.Y = [[] for _ in ys]
        for i, v in enumerate(ys):
            if v is not None:
                self.X[i].append(float(x))
                self.Y[i].append(float(v))
        if self.live:
            self._draw()
        elif float(x).is_integer():
            names = self.legend or [f"y{i}" for i in range(len(ys))]
            parts = [f"{n} {v:.3f}" for n, v in zip(names, ys) if v is not None]
            print(
                f"{self.axes_kw['xlabel'] or 'x'} {x:g}: " + ", ".join(parts),
                file=self.out or sys.stdout,
                flush=True,
            )

    def figure(self):
        """Draw the curves so far and return the matplotlib Figure (for saving or display)."""
        import matplotlib.pyplot as plt

        if self.fig is None:
            self.fig, self.axes = plt.subplots(figsize=self.figsize)
            plt.close(self.fig)  # shown through the display handle only, never twice
        self.axes.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts):
            self.axes.plot(xs, ys, fmt)
        set_axes(self.axes, **self.axes_kw)
        self.fig.tight_layout()
        return self.fig

    def _draw(self) -> None:
        from IPython.display import display

        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)


# --- Figures for the prose ----------------------------------------------------------------------

_GLUE_PREFIX = "application/papermill.record/"  # what myst-nb's glue writes and reads


def glue(name: str, value):
    """Keep ``value`` under ``name`` for the page's prose, and return it.

    On the website a markdown cell writes {glue:text}`name` (or `name:.3f`), and myst-nb puts
    the value this run computed there: a figure in the text is always the output's. It is
    myst-nb's ``glue(name, value, display=False)``, written out here so that a notebook runs
    where myst-nb is not installed (Colab, a laptop); outside IPython it does nothing. The
    extra empty "text/plain" keeps JupyterLab from showing "No renderer could be found" for the
    hidden output; myst-nb ignores it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return value
    if get_ipython() is None:
        return value
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": _GLUE_PREFIX}
    data = {_GLUE_PREFIX + k: v for k, v in bundle.items()} | {"text/plain": ""}
    display(data, raw=True, metadata=metadata)
    return value

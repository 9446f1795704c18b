#!/usr/bin/env bash
# Build .gpubundle/ (ignored): what tools/gpu_notebooks.sh needs on a lent GPU machine, which
# has no network and no Jupyter. Run it HERE, from anywhere, on a machine with pip access:
#
#   bash tools/gpu_bundle.sh          # PY=python-with-pip and mplfonts (default: .venv/bin/python)
#
# It writes
#   .gpubundle/*.whl                    Jupyter's packages for CPython 3.12, manylinux x86_64 (the
#                                       device's python3 is 3.12.3 and holds torch, matplotlib,
#                                       numpy, jinja2, pyyaml, markdown-it-py, pygments, psutil,
#                                       attrs, packaging, ... but no Jupyter); one version of each
#   .gpubundle/mplfonts/fonts/NotoSansCJKsc-Regular.otf
#                                       the CJK font; with .gpubundle on PYTHONPATH, `mplfonts`
#                                       resolves as a namespace package and d2lite.use_cjk_font()
#                                       finds it (the pip package itself is ~100 MB: too big)
#   .gpubundle/data/*.gz                the four Fashion-MNIST files (30 MB)
# and checks: every wheel is cp312 / abi3 / py3, no package twice, every Requires-Dist is in the
# bundle or on the device, the font resolves without the installed mplfonts, total < 60 MiB (the
# device call carries at most 64 MiB, working tree included).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
B=.gpubundle
DATA=${FMNIST_RAW:-../shared/data/FashionMNIST/raw}
grep -qx '/.gpubundle/' .gitignore || echo '/.gpubundle/' >> .gitignore

# The versions that work together in this project's .venv (pip list there), for CPython 3.12.
# Left out to stay under the size limit (they would add 8.5 MB): debugpy (ipykernel imports it
# inside try/except ImportError and runs without it: no debugger, which nbclient never asks
# for), widgetsnbextension and jupyterlab_widgets (front-end JavaScript for Jupyter's classic
# notebook and JupyterLab; ipywidgets never imports them). The check below allows exactly these.
WHEELS=(
  nbclient==0.11.0 nbformat==5.11.1 nbconvert==7.17.2 jupyter_client==8.10.0 jupyter_core==5.9.1
  ipykernel==7.4.0 ipython==9.18.1 ipython_pygments_lexers==1.1.1 matplotlib-inline==0.2.2
  jedi==0.20.1 parso==0.8.7 pexpect==4.9.0 ptyprocess==0.7.0 prompt_toolkit==3.0.53
  wcwidth==0.9.4 stack_data==0.6.3 asttokens==3.0.2 executing==2.3.0 pure_eval==0.2.4
  traitlets==5.16.1 pyzmq==27.3.0 tornado==6.6.1 comm==0.2.3
  nest-asyncio2==1.7.4 platformdirs==4.14.8 fastjsonschema==2.22.3 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  ipywidgets==8.1.9
  jupytext==1.19.6 mdit-py-plugins==0.7.0
  # nbconvert's own needs (tools/execute_notebooks.py uses its ExecutePreprocessor)
  beautifulsoup4==4.15.0 soupsieve==4.1.3 bleach==6.4.0 tinycss2==1.5.1 webencodings==0.6.1
  defusedxml==0.7.1 jupyterlab_pygments==0.3.0 mistune==3.4.0 pandocfilters==1.5.1
)

rm -rf "$B"
mkdir -p "$B/data" "$B/mplfonts/fonts"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$B" "${WHEELS[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

FONT=$("$PY" -c 'import mplfonts, pathlib; print(pathlib.Path(mplfonts.__path__[0], "fonts", "NotoSansCJKsc-Regular.otf"))')
cp "$FONT" "$B/mplfonts/fonts/"   # no __init__.py: a namespace package
cp "$DATA"/*.gz "$B/data/"
test "$(ls "$B"/data/*.gz | wc -l)" = 4 || { echo "expected 4 .gz files in $DATA"; exit 1; }

# --- checks ----------------------------------------------------------------------------------
"$PY" - "$B" <<'EOF'
import re, sys, zipfile
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as cn, parse_wheel_filename

# The device's python3 packages (/work/.library/device/KINDS.md, "Python packages already there").
DEVICE = {cn(n) for n in """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal
annotated-doc anyio attrs botorch build certifi charset-normalizer chex click cloudpickle cmake
colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x
cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax
llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath
msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax
opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow
pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo
pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
werkzeug wheel wrapt xarray xxhash yarl zipp""".split()}
LEFT_OUT = {"debugpy", "widgetsnbextension", "jupyterlab-widgets"}  # see WHEELS above
ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
       "platform_python_implementation": "CPython", "sys_platform": "linux",
       "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64"}
bundle, problems = {}, []
for whl in sorted(Path(sys.argv[1]).glob("*.whl")):
    name, version, _, tags = parse_wheel_filename(whl.name)
    def runs(t):  # on CPython 3.12, Linux x86_64
        py = t.interpreter in ("py3", "cp312") or (
            t.abi == "abi3" and re.fullmatch(r"cp3\d+", t.interpreter) and int(t.interpreter[3:]) <= 12)
        return py and (t.platform == "any" or re.fullmatch(r"(many)?linux.*_x86_64", t.platform))
    if not any(runs(t) for t in tags):
        problems.append(f"{whl.name}: no tag runs on CPython 3.12 x86_64")
    if name in bundle:
        problems.append(f"{name} twice: {bundle[name][0]} and {version}")
    meta = zipfile.ZipFile(whl).read(next(n for n in zipfile.ZipFile(whl).namelist()
                                          if n.endswith(".dist-info/METADATA"))).decode()
    bundle[name] = (version, [l.split(":", 1)[1].strip() for l in meta.splitlines()
                              if l.startswith("Requires-Dist:")])
def needs(reqs, extras=("",)):
    for r in reqs:
        q = Requirement(r)
        if q.marker is None or any(q.marker.evaluate({**ENV, "extra": e}) for e in extras):
            yield q
for name, (version, reqs) in bundle.items():
    for q in needs(reqs):
        wanted = [q]
        for extra in q.extras:  # bleach[css] -> tinycss2
            wanted += needs(bundle.get(cn(q.name), ("", []))[1], (extra,))
        for w in wanted:
            n = cn(w.name)
            if n in bundle:
                if w.specifier and not w.specifier.contains(bundle[n][0], prereleases=True):
                    problems.append(f"{name} needs {w}, bundle has {bundle[n][0]}")
            elif n not in DEVICE and n not in LEFT_OUT:
                problems.append(f"{name} needs {w}: neither in the bundle nor on the device")
print(f"{len(bundle)} wheels, one version each; tags and Requires-Dist checked")
if problems:
    sys.exit("\n".join(["PROBLEMS:", *problems]))
EOF
# The font must resolve from the bundle alone: -S hides site-packages (and the real mplfonts).
PYTHONPATH="$PWD/$B" "$PY" -S -c '
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("mplfonts")
locs = list(spec.submodule_search_locations or [])
assert spec.origin in (None, "namespace") and locs == [sys.argv[1]], (spec, locs)
assert (pathlib.Path(locs[0]) / "fonts" / "NotoSansCJKsc-Regular.otf").is_file()
print("mplfonts resolves as a namespace package:", locs[0])' "$PWD/$B/mplfonts"

mib() { find "$@" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1048576}'; }
echo "wheels $(mib "$B"/*.whl) MiB, font $(mib "$B/mplfonts") MiB, data $(mib "$B/data") MiB"
TOTAL=$(mib "$B")
echo "total: $TOTAL MiB in $(find "$B" -type f | wc -l) files (limit 60: the call carries 64 MiB,"
echo "       working tree included: $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes tracked)"
awk -v t="$TOTAL" 'BEGIN {exit !(t < 60)}' || { echo "over 60 MiB"; exit 1; }

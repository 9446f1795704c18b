#!/usr/bin/env bash
# Re-execute the chapter notebooks in the FULL setting (D2LITE_SETTING=full) on a lent GPU machine,
# so that the committed book/<lang>/*.ipynb show real full-run outputs. Runs ON the device, from
# the repository root. That machine has python3 3.12 with torch, matplotlib, numpy, ... but no
# Jupyter, no CJK font, no data and no network: all three travel in .gpubundle/.
#
# 1. Here (pip access), build the bundle (~55 MiB; the call carries at most 64 MiB):
#      bash tools/gpu_bundle.sh
# 2. One device call (chapters 4-5 in both languages first, then 1-3 while time is left):
#      run(command="bash tools/gpu_notebooks.sh", carry=[".gpubundle"], timeout_s=600)
#    GPU_NB_BUDGET (default 540) is the seconds the notebooks may take in all; a notebook starts
#    only with GPU_NB_MIN (default 60) seconds left and is stopped at the budget's end.
#    GPU_NB_NOTEBOOKS="book/zh/04_training.ipynb ..." runs just those, in that order.
# 3. What comes back (files_at in the reply; at most 8 files): notebooks.tar.gz (the executed
#    book/<lang>/NN_*.ipynb that finished, paths relative to the repository root),
#    <lang>_alexnet_fashion_mnist.json (chapter 4's settings file; the 374 MB .pt stays behind)
#    and gpu_notebooks.log. Bring them home, from the repository root:
#      tar xzvf <files_at>/notebooks.tar.gz      # overwrites book/<lang>/NN_*.ipynb
#      git diff --stat book/; .venv/bin/python -m pytest tests/test_notebooks_sync.py
#      make test-notebooks                       # nbval, quick mode, against the new outputs
#    `make sync` is not needed: the sources notebooks/<lang>/*.py are unchanged.
#
# Tested here on a CPU, in the quick setting, without a GPU (it proves the logic, not timings):
#   GPU_NB_QUICK=1 PY=.venv/bin/python GPU_NB_NO_INSTALL=1 OUT=/tmp/gpu_nb_out \
#     bash tools/gpu_notebooks.sh        # D2LITE_QUICK=1, only book/en/05_prediction.ipynb
# (it executes that notebook in place: `git checkout` it afterwards). Closer to the device: a
# python with no Jupyter and no mplfonts as PY, GPU_NB_BUNDLE=a copy of .gpubundle whose two
# cp312 wheels (pyzmq, rpds-py) are swapped for this python's, GPU_NB_SITE=/tmp/simsite: then
# the wheel install, the kernel from $SITE and the font from the bundle are exercised too.
set -u -o pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
OUT=${OUT:-/tmp/gpu_nb_out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_notebooks.log") 2>&1
PY=${PY:-python3}  # the device's python3 holds torch; it is also the kernel (sys.executable)
B=${GPU_NB_BUNDLE:-$PWD/.gpubundle}  # GPU_NB_BUNDLE: for the CPU simulation only
SITE=${GPU_NB_SITE:-/tmp/site}
BUDGET=${GPU_NB_BUDGET:-540}
MIN=${GPU_NB_MIN:-60}
export PYTHONUNBUFFERED=1
echo "== gpu_notebooks $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- packages: Jupyter's wheels into $SITE; the bundle folder holds the `mplfonts` font -------
if [ -z "${GPU_NB_NO_INSTALL:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$B"/*.whl || { echo "!! wheel install failed"; exit 1; }
fi
# Inherited by the kernel: jupyter_client starts it with a copy of this environment.
export PYTHONPATH="$SITE:$B:$PWD${PYTHONPATH:+:$PYTHONPATH}"

# --- data -------------------------------------------------------------------------------------
if [ -d "$B/data" ]; then
  export D2LITE_DATA=/tmp/fmnist
  mkdir -p "$D2LITE_DATA/FashionMNIST/raw"
  for f in "$B"/data/*.gz; do
    gunzip -c "$f" > "$D2LITE_DATA/FashionMNIST/raw/$(basename "$f" .gz)"
  done
elif [ -z "${D2LITE_DATA:-}" ] && [ -d ../shared/data ]; then
  export D2LITE_DATA=$(cd ../shared/data && pwd)
fi

# --- setting and notebooks ----------------------------------------------------------------------
if [ -n "${GPU_NB_QUICK:-}" ]; then  # a smoke test of this script on any CPU
  export D2LITE_QUICK=1 D2LITE_SETTING=quick
  DEFAULT="book/en/05_prediction.ipynb"
else
  export D2LITE_QUICK=0 D2LITE_SETTING=full  # the full setting, never the cpu one
  DEFAULT="book/zh/04_training.ipynb book/en/04_training.ipynb
           book/zh/05_prediction.ipynb book/en/05_prediction.ipynb
           book/zh/01_activation.ipynb book/en/01_activation.ipynb
           book/zh/02_alexnet.ipynb book/en/02_alexnet.ipynb
           book/zh/03_data.ipynb book/en/03_data.ipynb"
fi
read -r -a NOTEBOOKS <<< "$(echo ${GPU_NB_NOTEBOOKS:-$DEFAULT})"
echo "D2LITE_SETTING=$D2LITE_SETTING D2LITE_QUICK=$D2LITE_QUICK D2LITE_DATA=${D2LITE_DATA:-?} PY=$PY budget ${BUDGET}s"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "(no nvidia-smi)"

# --- preflight: fail in seconds, not after ten epochs ----------------------------------------------
"$PY" - <<'EOF' || { echo "!! preflight failed"; exit 1; }
import importlib, importlib.metadata as md, os, sys, warnings
print("python", sys.version.split()[0], sys.executable)
mods = ["nbclient", "nbformat", "nbconvert", "jupytext", "jupyter_client", "ipykernel",
        "IPython", "ipywidgets", "zmq", "tornado", "torch", "torchvision", "matplotlib", "d2lite"]
for m in mods:
    mod = importlib.import_module(m)
    print(f"  {m:15} {getattr(mod, '__version__', '?'):14} {os.path.dirname(mod.__file__)}")
# Each carried package's needs against what this python holds (device packages included).
from packaging.requirements import Requirement
bad = []
for dist in md.distributions():
    if not str(dist.locate_file("")).startswith(os.environ["PYTHONPATH"].split(":")[0]):
        continue
    for r in dist.requires or []:
        q = Requirement(r)
        if q.marker and not q.marker.evaluate({"extra": ""}):
            continue
        try:
            have = md.version(q.name)
        except md.PackageNotFoundError:
            if q.name.lower() not in ("debugpy", "widgetsnbextension", "jupyterlab-widgets", "jupyterlab_widgets"):
                bad.append(f"{dist.metadata['Name']} needs {q}: missing")
            continue
        if q.specifier and not q.specifier.contains(have, prereleases=True):
            bad.append(f"{dist.metadata['Name']} needs {q}, found {have}")
print("requirement mismatches:", bad or "none")  # reported; only imports above are fatal
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda,
      "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
if os.environ["D2LITE_QUICK"] == "0" and not torch.cuda.is_available():
    sys.exit("no GPU: the full setting would take hours on a CPU (about 1.5 h of training on 2 AMX cores)")
import d2lite
with warnings.catch_warnings():
    warnings.simplefilter("error")  # "No CJK font found" becomes fatal here
    family = d2lite.use_cjk_font()
from matplotlib import font_manager as fm
print("CJK font:", family, fm.findfont(fm.FontProperties(family=family), fallback_to_default=False))
print("  from mplfonts:", [f.fname for f in fm.fontManager.ttflist if "mplfonts" in f.fname])
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
with warnings.catch_warnings():
    warnings.simplefilter("error")
    ax.set_title("训练损失 ✗ −1"); fig.canvas.draw()  # a missing glyph warns -> fatal
files = d2lite.find_data_dir()  # no download: the device is offline
assert files, "Fashion-MNIST not found (D2LITE_DATA=%s)" % os.environ.get("D2LITE_DATA")
print("data:", sorted(str(p) for p in files.values()))
EOF

# --- execute, one notebook per process, results packed after each one ------------------------
pack() {
  tar czf "$OUT/notebooks.tar.gz.tmp" "${DONE[@]}" && mv "$OUT/notebooks.tar.gz.tmp" "$OUT/notebooks.tar.gz"
  for lang in zh en; do
    j="book/$lang/checkpoints/alexnet_fashion_mnist.json"
    [ -f "$j" ] && cp "$j" "$OUT/${lang}_alexnet_fashion_mnist.json"
  done
}
DONE=(); FAILED=(); SKIPPED=()
for nb in "${NOTEBOOKS[@]}"; do
  LEFT=$(( BUDGET - (SECONDS - START) ))
  if [ "$LEFT" -lt "$MIN" ]; then SKIPPED+=("$nb"); continue; fi
  echo; echo "== $nb ($(date -u +%T), ${LEFT}s left)"
  if timeout --kill-after=10 "$LEFT" "$PY" tools/execute_notebooks.py "$nb"; then
    DONE+=("$nb"); pack
  else
    echo "!! exit status $? (124 = stopped at the budget's end)"; FAILED+=("$nb")
  fi
done

echo; echo "== summary ($(( SECONDS - START ))s in all)"
nvidia-smi 2>/dev/null || echo "(no nvidia-smi)"
"$PY" - "${DONE[@]}" <<'EOF'
import json, sys
for p in sys.argv[1:]:
    nb = json.load(open(p))
    print(f"{p:32} {json.dumps(nb['metadata'].get('d2lite'), ensure_ascii=False)}")
EOF
echo "done:    ${DONE[*]:-none}"
echo "failed:  ${FAILED[*]:-none}"
echo "skipped: ${SKIPPED[*]:-none} (rerun with GPU_NB_NOTEBOOKS=\"...\")"
ls -la "$OUT"
[ ${#FAILED[@]} -eq 0 ] && [ ${#DONE[@]} -gt 0 ]

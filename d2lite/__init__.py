"""d2lite: the small helper library behind the AlexNet-on-Fashion-MNIST book.

Run a chapter, and it imports this package:

    import d2lite
    device = d2lite.try_gpu()  # cuda -> mps -> cpu
    train_iter, test_iter = d2lite.load_data_fashion_mnist(128, resize=224)
    net = d2lite.init_weights(d2lite.alexnet())  # initialising is a separate, named step
    history = d2lite.train(net, train_iter, test_iter, num_epochs=10, lr=0.01, device=device)

From a terminal, alone or on several GPUs/processes (DDP):

    python -m d2lite train --setting quick
    torchrun --nproc_per_node=2 -m d2lite train --setting quick

A tour in lesson order. The lesson's modules sit at the top level, each importing only the ones
above it in this list; the machinery that a long run adds lives in ``d2lite/run/``, which
imports the lesson's modules and is never imported by them. Every name below is also
``d2lite.<name>``. The names are the ones readers of the Dive-into-Deep-Learning tutorial know
(``load_data_fashion_mnist``, ``Accumulator``, ``Animator``, ``train``, ...), with sturdier
behaviour behind them: data found offline, clear errors, a history returned, checkpoints that
survive interruption, and a fast GPU-resident path.

device.py        settings, device, seed: SETTINGS, setting, is_quick, try_gpu, resolve_device,
                 device_name, sync, set_seed, launched_by_torchrun
ddp.py           several processes (chapter 6): Distributed, distributed, init_distributed,
                 all_reduce_sums
fashion_mnist.py the data's files (chapter 3): DataError, DataNotFoundError, FASHION_MNIST_FILES,
                 TEXT_LABELS, DEBIAN_DATA_DIR, read_idx, find_data_dir, FashionMNISTArrays,
                 load_fashion_mnist_arrays, get_fashion_mnist_labels
loaders.py       batches (chapter 3): FashionMNISTDataset, DeviceLoader, default_num_workers,
                 load_data_fashion_mnist, load_data_fashion_mnist_split
models.py        the networks (chapter 2): InputSizeError, AlexNet, alexnet, lenet, init_weights,
                 LayerInfo, trace_shapes, draw_layers
metrics.py       counting: Accumulator, Timer, accuracy, History
plot.py          pictures: use_cjk_font, set_axes, show_images, Animator; glue (figures
                 for the prose)
engine.py        the lesson's loop (chapter 4): amp_dtype, autocast, grad_scaler, train_step,
                 EpochStats, train_epoch, evaluate_accuracy_gpu,
                 evaluate
prediction.py    predictions (chapter 5): Predictions, predict, show_predictions, predict_all,
                 confusion_matrix
inside.py        looking inside the network (chapter 5): feature_maps, grad_cam, occlusion,
                 filter_grid, show_heatmaps
records.py       the book's recorded long runs (chapters 4, 5): load_record
export.py        the network outside PyTorch: export_onnx (float32 or int8),
                 onnx_probabilities (needs the optional onnx packages: d2lite[onnx])
your_image.py    any image as the data set holds one, and its prediction: ImageError,
                 prepare_image, predict_image
run/progress.py  the progress line: Progress
run/checkpoints.py  files that survive a crash: CHECKPOINT_FORMAT, CheckpointError,
                 CheckpointWriteError, CheckpointLockError, save_checkpoint, load_checkpoint
run/resume.py    going on exactly where a run stopped: its checkpoint, mid-epoch positions
run/signals.py   ending early and cleanly, on Ctrl-C or SIGTERM: SIGTERM_EXIT_STATUS
run/trainer.py   the lesson's loop run for real: train, TrainingDivergedError
run/budget.py    a run sized to a time budget: BudgetPlan, measure_speed, plan_budget; the
                 choice shared by a chapter's two editions: share_choice, shared_choice
run/predict_export.py  python -m d2lite predict | export
run/cli.py       python -m d2lite train (and the other commands): CLI_SETTINGS, BASE_LR, main

Settings (environment variables, read when a function is called, never at import):
    D2LITE_DATA   folder that holds Fashion-MNIST (searched before the project's `data/`).
    D2LITE_SETTING  which of a chapter's settings runs: "quick", "cpu" or "full"; see setting().
    D2LITE_QUICK  "1" is short for D2LITE_SETTING=quick (small subset, short run: tests and CI).
    D2LITE_DECISIONS  a JSON file where a chapter's speed-dependent choices are shared by its two
                  editions (set by tools/execute_notebooks.py); see shared_choice().

Importing d2lite has no side effects (no seeding, no plotting backend, no download) and stays
cheap: matplotlib's pyplot, IPython and torchvision are imported by the functions that use them.
"""

from d2lite.ddp import Distributed, all_reduce_sums, distributed, init_distributed
from d2lite.device import (
    SETTINGS,
    device_name,
    is_quick,
    launched_by_torchrun,
    resolve_device,
    set_seed,
    setting,
    sync,
    try_gpu,
)
from d2lite.engine import (
    EpochStats,
    amp_dtype,
    autocast,
    evaluate,
    evaluate_accuracy_gpu,
    grad_scaler,
    train_epoch,
    train_step,
)
from d2lite.export import export_onnx, onnx_probabilities
from d2lite.fashion_mnist import (
    DEBIAN_DATA_DIR,
    FASHION_MNIST_FILES,
    TEXT_LABELS,
    DataError,
    DataNotFoundError,
    FashionMNISTArrays,
    find_data_dir,
    get_fashion_mnist_labels,
    load_fashion_mnist_arrays,
    read_idx,
)
from d2lite.inside import feature_maps, filter_grid, grad_cam, occlusion, show_heatmaps
from d2lite.loaders import (
    DeviceLoader,
    FashionMNISTDataset,
    default_num_workers,
    load_data_fashion_mnist,
    load_data_fashion_mnist_split,
)
from d2lite.metrics import Accumulator, History, Timer, accuracy
from d2lite.models import (
    AlexNet,
    InputSizeError,
    LayerInfo,
    alexnet,
    draw_layers,
    init_weights,
    lenet,
    trace_shapes,
)
from d2lite.plot import Animator, glue, set_axes, show_images, use_cjk_font
from d2lite.prediction import (
    Predictions,
    confusion_matrix,
    predict,
    predict_all,
    show_predictions,
)
from d2lite.records import load_record
from d2lite.run.budget import (
    BudgetPlan,
    measure_speed,
    plan_budget,
    share_choice,
    shared_choice,
)
from d2lite.run.checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    CheckpointLockError,
    CheckpointWriteError,
    load_checkpoint,
    save_checkpoint,
)
from d2lite.run.cli import BASE_LR, CLI_SETTINGS, main
from d2lite.run.progress import Progress
from d2lite.run.signals import SIGTERM_EXIT_STATUS
from d2lite.run.trainer import TrainingDivergedError, train
from d2lite.your_image import ImageError, predict_image, prepare_image

__all__ = [
    # device.py: settings, device & seed
    "SETTINGS", "setting", "is_quick", "try_gpu", "resolve_device", "device_name", "sync",
    "set_seed", "launched_by_torchrun",
    # ddp.py: several processes (torchrun)
    "Distributed", "distributed", "init_distributed", "all_reduce_sums",
    # fashion_mnist.py: the data's files
    "DataError", "DataNotFoundError", "FASHION_MNIST_FILES", "TEXT_LABELS", "DEBIAN_DATA_DIR",
    "read_idx", "find_data_dir", "FashionMNISTArrays", "load_fashion_mnist_arrays",
    "get_fashion_mnist_labels",
    # loaders.py: batches
    "FashionMNISTDataset", "DeviceLoader", "default_num_workers", "load_data_fashion_mnist",
    "load_data_fashion_mnist_split",
    # models.py
    "InputSizeError", "AlexNet", "alexnet", "lenet", "init_weights", "LayerInfo", "trace_shapes",
    "draw_layers",
    # metrics.py
    "Accumulator", "Timer", "accuracy", "History",
    # plot.py
    "use_cjk_font", "set_axes", "show_images", "Animator", "glue",
    # engine.py: the lesson's loop
    "amp_dtype", "autocast", "grad_scaler", "train_step", "EpochStats", "train_epoch",
    "evaluate_accuracy_gpu", "evaluate",
    # prediction.py and inside.py
    "Predictions", "predict", "show_predictions", "predict_all", "confusion_matrix",
    "feature_maps", "grad_cam", "occlusion", "filter_grid", "show_heatmaps",
    # records.py: the book's recorded runs
    "load_record",
    # export.py and your_image.py: the trained model outside PyTorch, on any image
    "export_onnx", "onnx_probabilities", "ImageError", "prepare_image", "predict_image",
    # run/: progress, checkpoints, signals, train, budget, command line
    "Progress",
    "CHECKPOINT_FORMAT", "CheckpointError", "CheckpointWriteError", "CheckpointLockError",
    "save_checkpoint", "load_checkpoint",
    "SIGTERM_EXIT_STATUS",
    "train", "TrainingDivergedError",
    "BudgetPlan", "measure_speed", "plan_budget", "share_choice", "shared_choice",
    "CLI_SETTINGS", "BASE_LR", "main",
]  # fmt: skip

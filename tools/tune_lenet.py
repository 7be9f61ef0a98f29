"""Choose notebook 05's LeNet recipe on the validation split (issue 21: "the recipe chosen on
the validation split, the test set read once").

Every candidate trains LeNet (channels_last, Adam + one-cycle, batches of 128, 2 epochs: the
budget that fits the 15 s target on 2 cores) on the course's training split (55,000 MNIST
images; ``train_val_split(..., 5000, seed=0)``) and is scored on the 5,000 held-out
validation images, over 3 seeds (initial weights and data order). The test split is never
loaded here. The recipe with the highest mean validation accuracy is printed last; notebook
05 uses it, and reads the test set once for that final model.

    python tools/tune_lenet.py            # about 3 minutes on 2 cores (one thread per run)
    python tools/tune_lenet.py --quick    # 2,000 images, 1 seed: checks that it runs
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import cnnlib  # noqa: F401  (before torch: its OpenMP wait policy applies)
import torch
import torch.nn.functional as F

from cnnlib.data import TensorLoader, load_dataset, train_val_split
from cnnlib.models.lenet import LeNet
from cnnlib.train import History, SeedStats, evaluate, fit, over_seeds

EPOCHS, BATCH = 2, 128
#: name -> (max learning rate of the one-cycle schedule, label smoothing of the loss)
CANDIDATES = {
    "lr 5e-3": (5e-3, 0.0),
    "lr 1e-2": (1e-2, 0.0),
    "lr 5e-3, label smoothing 0.1": (5e-3, 0.1),
    "lr 1e-2, label smoothing 0.1": (1e-2, 0.1),
}
#: what the last full run chose (2026-12-03: validation 0.9903 ± 0.0011); notebook 05's
#: section 8 and the bench's LeNet worker use it (tests/test_tune_lenet.py keeps them in step)
CHOSEN = "lr 1e-2, label smoothing 0.1"


def train_recipe(x: torch.Tensor, y: torch.Tensor, lr: float, smoothing: float, seed: int = 0,
                 epochs: int = EPOCHS) -> tuple[LeNet, History]:
    """LeNet trained with one candidate's recipe on x: (N, 1, 28, 28) normalized images and
    y: (N,) labels; also the recipe the bench times (``tools/bench.py``'s LeNet worker)."""
    model = LeNet().to(memory_format=torch.channels_last)
    loader = TensorLoader(x, y, batch_size=BATCH, shuffle=True, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(loader))
    hist = fit(model, loader, epochs, opt, loss_fn=functools.partial(F.cross_entropy, label_smoothing=smoothing),
               scheduler=sched, progress=False, device="cpu")
    return model, hist


def validation_accuracy(lr: float, smoothing: float, seed: int, data: tuple) -> float:
    """One training run of the candidate; accuracy on the validation split."""
    x_tr, y_tr, x_val, y_val = data
    model, _ = train_recipe(x_tr, y_tr, lr, smoothing, seed)
    return evaluate(model, TensorLoader(x_val, y_val, batch_size=1000), device="cpu")[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 training images and one seed")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "build" / "tune" / "lenet.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    x, y = load_dataset("mnist", "train")
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, 5000, seed=0)
    if args.quick:
        x_tr, y_tr = x_tr[:2000], y_tr[:2000]
    mean, std = x_tr.mean(), x_tr.std()
    data = ((x_tr - mean) / std, y_tr, (x_val - mean) / std, y_val)
    seeds = (0,) if args.quick else (0, 1, 2)
    results: dict[str, SeedStats] = {}
    for name, (lr, smoothing) in CANDIDATES.items():
        results[name] = over_seeds(lambda seed: validation_accuracy(lr, smoothing, seed, data), seeds)
        print(f"{name:32s} validation accuracy {results[name].format(4)}", flush=True)
    best = max(results, key=lambda k: results[k].mean)
    print(f"chosen (highest mean validation accuracy): {best}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"chosen": best, "epochs": EPOCHS, "batch": BATCH,
                                    "candidates": {k: {"lr": CANDIDATES[k][0], "label_smoothing": CANDIDATES[k][1],
                                                       "values": v.values} for k, v in results.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

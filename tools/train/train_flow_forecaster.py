#!/usr/bin/env python3
"""Trains the PEMS08 traffic-flow forecaster and exports it for xmodal's model runtime.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread \
        /usr/bin/python3 tools/train/train_flow_forecaster.py [--shared ../shared] [--epochs 20] [--out models] ...

(the committed model's command and settings: models/flow_forecaster.json).

Debian's python3-torch (not a pyenv python3) with OpenBLAS for this process only (docs/DEPENDENCIES.md).

Data (shared/data/MANIFEST.md): the staged flow series covers steps 10700...17855 only. Training and
model selection use only the windows whose targets end before the first step any STAEformer test
window reads (windows with x_start in 10700...14243: 3544 windows), split chronologically: the first
85 % train, the last 15 % validation (the best validation epoch is kept). The test windows are
scored once, after training, to report the PyTorch figure the C++ runtime must reproduce
(--no-test leaves them out: experiments compare validation figures only).

Model: per-series online normalisation (each series' 12 inputs by their own mean and std, outputs
de-normalised the same way, RevIN-style), so one model serves loop-detector and camera counts; one
token per series = a linear map of its 12 normalised inputs + time-of-day Fourier features and a
day-of-week embedding of the last input step (+ optionally a learned per-sensor embedding,
--series-embedding, trained with a share of the series shown as unknown); residual MLP layers per series, then attention across series; a
linear head maps each token to the series' 12 forecasts. Any number of series.

Interface (xmflow depends on it): inputs flow f32 [B,12,N] raw counts, time_of_day f32 [B,12]
(fraction of the day), day_of_week i64 [B,12] (0 = Monday), and with --series-embedding
series_id i64 [N] (PEMS08 sensor 0..169, -1 = a series the model was not trained on: a camera's
counting line); output forecast f32 [B,12,N].
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn

STEPS_PER_DAY = 288
IN_STEPS = OUT_STEPS = 12
SERIES_FIRST_STEP = 10700


def time_features(steps):
    """time_of_day fraction and day_of_week (0 = Monday; step 0 = 2016-07-01, a Friday)."""
    tod = (steps % STEPS_PER_DAY).astype(np.float32) / STEPS_PER_DAY
    dow = (steps // STEPS_PER_DAY + 4) % 7
    return tod, dow.astype(np.int64)


class Attention(nn.Module):
    """Pre-norm multi-head self-attention + feed-forward over the middle axis of [M, L, D].

    Written out (not nn.MultiheadAttention) so the export is MatMul -> Mul -> Softmax -> MatMul,
    the pattern the runtime fuses into its attention operator."""

    def __init__(self, dim, heads, ff):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Linear(ff, dim))

    def forward(self, x):
        m, length, dim = x.shape
        hd = dim // self.heads
        # [M*H, L, hd] contiguous operands: Debian's torch (generic BLAS) multiplies strided
        # batches one slow matrix at a time. The reshapes are no-ops in the exported graph.
        qkv = self.qkv(self.norm1(x)).reshape(m, length, 3, self.heads, hd).permute(2, 0, 3, 1, 4).reshape(3, -1, length, hd)
        q, k, v = qkv[0].contiguous(), qkv[1].transpose(1, 2).contiguous(), qkv[2].contiguous()
        scores = torch.softmax(torch.matmul(q, k) * (1.0 / math.sqrt(hd)), dim=-1)
        a = torch.matmul(scores, v).reshape(m, self.heads, length, hd).transpose(1, 2).reshape(m, length, dim)
        x = x + self.proj(a)
        return x + self.ff(self.norm2(x))


class FlowForecaster(nn.Module):
    def __init__(self, dim=64, heads=4, mlp_layers=3, spatial_layers=2, fourier_terms=8, known_series=0):
        super().__init__()
        self.fourier_terms = fourier_terms
        self.value = nn.Linear(IN_STEPS, dim)  # the whole normalised window of one series -> its token
        self.tod = nn.Linear(2 * fourier_terms, dim)
        self.dow = nn.Embedding(7, dim)
        # One row per known sensor plus a last row for "unknown" (series_id -1 gathers it: Gather
        # counts negative indices from the end, in torch and in ONNX alike).
        self.series = nn.Parameter(torch.randn(known_series + 1, dim) * 0.1) if known_series else None
        self.mlp = nn.ModuleList([nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
                                  for _ in range(mlp_layers)])
        self.spatial = nn.ModuleList([Attention(dim, heads, 2 * dim) for _ in range(spatial_layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, OUT_STEPS)
        self.skip = nn.Linear(IN_STEPS, OUT_STEPS)  # a linear forecast from the normalised inputs

    def forward(self, flow, time_of_day, day_of_week, series_id=None):
        # Per-series normalisation over the input window. The variance floor keeps a flat
        # (constant) series finite: its normalised inputs are 0 and its forecast is its level.
        mean = flow.mean(dim=1, keepdim=True)
        centred = flow - mean
        std = torch.sqrt((centred * centred).mean(dim=1, keepdim=True) + 1e-3)
        z = (centred / std).transpose(1, 2)  # [B, N, T]

        # Calendar of the last input step: the forecast starts right after it.
        k = torch.arange(1, self.fourier_terms + 1, dtype=torch.float32) * (2 * math.pi)
        angle = time_of_day[:, -1:].unsqueeze(-1) * k  # [B, 1, F]
        calendar = self.tod(torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)) + self.dow(day_of_week[:, -1:])  # [B, 1, D]
        h = self.value(z) + calendar  # [B, N, D]
        if self.series is not None:
            h = h + self.series[series_id]  # [N, D]
        for layer in self.mlp:
            h = h + layer(h)
        for layer in self.spatial:  # attention across series
            h = layer(h)
        out = self.head(self.norm(h)) + self.skip(z)  # [B, N, OUT]
        return out.transpose(1, 2) * std + mean


def masked_mae_sum(pred, truth):
    mask = truth != 0
    return (torch.abs(pred - truth) * mask).sum(), mask.sum()


def make_windows(series, x_starts):
    idx = x_starts[:, None] - SERIES_FIRST_STEP + np.arange(IN_STEPS + OUT_STEPS)[None, :]
    w = series[idx]  # [W, 24, N]
    tod, dow = time_features(x_starts[:, None] + np.arange(IN_STEPS)[None, :])
    return (torch.from_numpy(w[:, :IN_STEPS]), torch.from_numpy(w[:, IN_STEPS:]),
            torch.from_numpy(tod), torch.from_numpy(dow))


@torch.no_grad()
def evaluate(model, data, series_id, batch=64):
    x, y, tod, dow = data
    total, count = 0.0, 0
    per_h = torch.zeros(OUT_STEPS, dtype=torch.float64)
    per_h_count = torch.zeros(OUT_STEPS, dtype=torch.float64)
    for i in range(0, x.shape[0], batch):
        p = model(x[i:i + batch], tod[i:i + batch], dow[i:i + batch], series_id).double()
        yt = y[i:i + batch].double()
        mask = (yt != 0).double()
        err = (p - yt).abs() * mask
        per_h += err.sum(dim=(0, 2))
        per_h_count += mask.sum(dim=(0, 2))
        total += err.sum().item()
        count += mask.sum().item()
    return total / count, (per_h / per_h_count).tolist()


def export_onnx(model, path, example, series_id=None):
    """ONNX for xmodal's runtime: B and N symbolic; series_id an input only for a model that has the embedding."""
    input_names = ["flow", "time_of_day", "day_of_week"]
    dynamic_axes = {"flow": {0: "batch", 2: "series"}, "time_of_day": {0: "batch"}, "day_of_week": {0: "batch"},
                    "forecast": {0: "batch", 2: "series"}}
    if series_id is not None:
        input_names.append("series_id")
        dynamic_axes["series_id"] = {0: "series"}
        example = example + (series_id,)
    torch.onnx.export(model, example, path, opset_version=17, do_constant_folding=True,
                      input_names=input_names, output_names=["forecast"], dynamic_axes=dynamic_axes)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.environ.get("XMODAL_SHARED", os.path.join(os.path.dirname(root), "shared")))
    ap.add_argument("--out", default=os.path.join(root, "models"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--mlp-layers", type=int, default=3)
    ap.add_argument("--spatial-layers", type=int, default=2)
    ap.add_argument("--fourier-terms", type=int, default=8)
    ap.add_argument("--series-embedding", action="store_true",
                    help="learned per-sensor embedding, input series_id [N] (-1 = unknown series)")
    ap.add_argument("--id-dropout", type=float, default=0.3,
                    help="share of training series shown as unknown (-1), so the unknown row is trained")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-series", type=int, default=170,
                    help="series per training batch, drawn at random (cross-series attention costs N^2)")
    ap.add_argument("--subset-prob", type=float, default=0.2,
                    help="share of batches trained on a random subset of 1..32 series, so few-series inputs (xmflow) work")
    ap.add_argument("--patience", type=int, default=0, help="stop after this many epochs without a better validation MAE (0: never)")
    ap.add_argument("--no-test", action="store_true",
                    help="experiment: validation only, no test score, no export; keeps the best checkpoint (OUT/flow_forecaster.pt)")
    ap.add_argument("--init", help="start from these weights (a kept checkpoint); with --epochs 0: score and export them")
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()

    data_dir = os.path.join(args.shared, "data", "PEMS08")
    series = np.load(os.path.join(data_dir, "PEMS08_flow_t10700-17855.npy")).astype(np.float32)
    test_index = np.load(os.path.join(data_dir, "staeformer_index.npz"))["test"]
    first_test_step = int(test_index[:, 0].min())
    # Every window whose targets end before the first step a test window reads.
    starts = np.arange(SERIES_FIRST_STEP, first_test_step - (IN_STEPS + OUT_STEPS) + 1)
    n_val = int(round(0.15 * len(starts)))
    train_starts, val_starts = starts[:-n_val], starts[-n_val:]
    train, val = make_windows(series, train_starts), make_windows(series, val_starts)
    print(f"windows: train {len(train_starts)} (x_start {train_starts[0]}..{train_starts[-1]}), "
          f"val {len(val_starts)} (x_start {val_starts[0]}..{val_starts[-1]}), test {len(test_index)}; "
          f"first test step {first_test_step}", flush=True)

    x, y, tod, dow = train
    n_series = x.shape[2]
    all_ids = torch.arange(n_series)
    unknown_ids = torch.full((n_series,), -1, dtype=torch.int64)
    model = FlowForecaster(dim=args.dim, mlp_layers=args.mlp_layers, spatial_layers=args.spatial_layers,
                           fourier_terms=args.fourier_terms,
                           known_series=n_series if args.series_embedding else 0)
    print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    if args.init:
        model.load_state_dict(torch.load(args.init))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_starts) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(1, args.epochs * steps_per_epoch), pct_start=0.1)
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "flow_forecaster.pt")
    best_val, best_epoch, curve = float("inf"), -1, []
    if args.epochs == 0:  # the --init weights as they are
        model.eval()
        best_val, _ = evaluate(model, val, all_ids)
        torch.save(model.state_dict(), checkpoint)
    for epoch in range(args.epochs):
        t0 = time.time()
        model.train()
        order = torch.from_numpy(rng.permutation(x.shape[0]))
        loss_sum, loss_count = 0.0, 0
        for i in range(0, len(order), args.batch):
            sel = order[i:i + args.batch]
            xb, yb = x[sel], y[sel]
            few = rng.random() < args.subset_prob
            size = int(rng.integers(1, 33)) if few else min(args.train_series, n_series)
            cols = torch.from_numpy(rng.choice(n_series, size=size, replace=False))
            xb, yb = xb[:, :, cols], yb[:, :, cols]
            ids = cols.clone()
            ids[torch.from_numpy(rng.random(size) < args.id_dropout)] = -1
            err, count = masked_mae_sum(model(xb, tod[sel], dow[sel], ids), yb)
            loss = err / count.clamp(min=1)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            loss_sum += err.item()
            loss_count += count.item()
        model.eval()
        val_mae, _ = evaluate(model, val, all_ids)
        curve.append(round(val_mae, 4))
        if val_mae < best_val:
            best_val, best_epoch = val_mae, epoch
            torch.save(model.state_dict(), checkpoint)
        print(f"epoch {epoch}: train MAE {loss_sum / loss_count:.3f}  val MAE {val_mae:.3f}  ({time.time() - t0:.0f} s)", flush=True)
        if args.patience and epoch - best_epoch >= args.patience:
            print(f"no better validation MAE for {args.patience} epochs: stopping", flush=True)
            break
    minutes = (time.time() - started) / 60

    model.load_state_dict(torch.load(checkpoint))
    model.eval()
    val_unknown, _ = evaluate(model, val, unknown_ids) if args.series_embedding else (best_val, None)
    print(f"best epoch {best_epoch}: val MAE {best_val:.4f} (every series as unknown: {val_unknown:.4f}); "
          f"{minutes:.1f} min", flush=True)
    if args.no_test:
        print(f"best weights kept in {checkpoint}", flush=True)
        return
    # Scored once, after selection; never used to choose anything.
    test = make_windows(series, test_index[:, 0].astype(np.int64))
    test_mae, test_h = evaluate(model, test, all_ids)
    test_unknown, _ = evaluate(model, test, unknown_ids) if args.series_embedding else (test_mae, None)
    print(f"test masked MAE {test_mae:.4f} (15/30/60 min {test_h[2]:.3f} / {test_h[5]:.3f} / {test_h[11]:.3f}); "
          f"every series as unknown: {test_unknown:.4f}", flush=True)

    onnx_path = os.path.join(args.out, "flow_forecaster.onnx")
    export_onnx(model, onnx_path, (test[0][:2], test[2][:2], test[3][:2]), all_ids if args.series_embedding else None)
    inputs = {
        "flow": "float32 [B, 12, N]: raw counts per interval, any scale (normalised per series inside)",
        "time_of_day": "float32 [B, 12]: fraction of the day (0..1) at each input step",
        "day_of_week": "int64 [B, 12]: 0 = Monday .. 6 = Sunday at each input step",
    }
    if args.series_embedding:
        inputs["series_id"] = f"int64 [N]: PEMS08 sensor 0..{n_series - 1} of each series, -1 = unknown (any other series)"
    description = {
        "model": "flow_forecaster.onnx",
        "task": "traffic-flow forecasting, 12 five-minute steps in -> 12 out, any number of series",
        "inputs": inputs,
        "outputs": {"forecast": "float32 [B, 12, N]: counts for the next 12 steps, same scale as flow"},
        "architecture": f"RevIN-style per-series normalisation; one token per series (its 12 normalised inputs -> dim {args.dim}) "
                        f"+ time-of-day Fourier features ({args.fourier_terms} harmonics) + day-of-week embedding of the last input step"
                        + (f"; per-sensor embedding ({n_series} sensors + unknown, series_id -1)" if args.series_embedding else "")
                        + f"; {args.mlp_layers} residual MLP layers, {args.spatial_layers} cross-series pre-norm attention layers "
                        "(4 heads); linear head",
        "parameters": sum(p.numel() for p in model.parameters()),
        "training_command": "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 tools/train/train_flow_forecaster.py " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
            if k not in ("shared", "out", "no_test") and v is not False),
        "data": {
            "series": "shared/data/PEMS08/PEMS08_flow_t10700-17855.npy (steps 10700..17855 only)",
            "train_windows": f"{len(train_starts)}: x_start {int(train_starts[0])}..{int(train_starts[-1])}",
            "validation_windows": f"{len(val_starts)}: x_start {int(val_starts[0])}..{int(val_starts[-1])}",
            "test_windows": f"STAEformer/BasicTS index, {len(test_index)} windows, first input step {first_test_step}",
        },
        "training_wall_minutes": round(minutes, 1),
        "epochs_run": len(curve),
        "validation_curve": curve,
        "best_epoch": best_epoch,
        "validation_masked_mae": round(best_val, 4),
        "pytorch_test_masked_mae": round(test_mae, 4),
        "pytorch_test_masked_mae_15_30_60min": [round(test_h[2], 4), round(test_h[5], 4), round(test_h[11], 4)],
    }
    if args.series_embedding:
        description["validation_masked_mae_unknown_series"] = round(val_unknown, 4)
        description["pytorch_test_masked_mae_unknown_series"] = round(test_unknown, 4)
    with open(os.path.join(args.out, "flow_forecaster.json"), "w") as f:
        json.dump(description, f, indent=2)
        f.write("\n")
    os.remove(checkpoint)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Trains the PEMS08 traffic-flow forecaster and exports it for xmodal's model runtime.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread \
        /usr/bin/python3 tools/train/train_flow_forecaster.py [--shared ../shared] [--epochs 8] [--out models]

Debian's python3-torch (not a pyenv python3) with OpenBLAS for this process only (docs/DEPENDENCIES.md).

Data (shared/data/MANIFEST.md): the staged flow series covers steps 10700...17855 only. Training and
model selection use only the windows whose targets end before the first step any STAEformer test
window reads (windows with x_start in 10700...14243: 3544 windows), split chronologically: the first
85 % train, the last 15 % validation (the best validation epoch is kept). The test windows are
scored once, after training, to report the PyTorch figure the C++ runtime must reproduce.

Model: per-series online normalisation (each series' 12 inputs by their own mean and std, outputs
de-normalised the same way, RevIN-style), so one model serves loop-detector and camera counts;
tokens = value projection + time-of-day Fourier features + day-of-week embedding; temporal
self-attention over the 12 input steps, then attention across series at each step; a linear head
maps each series' 12 tokens to its 12 forecasts. No per-sensor parameters: any number of series.

Interface (xmflow depends on it): inputs flow f32 [B,12,N] raw counts, time_of_day f32 [B,12]
(fraction of the day), day_of_week i64 [B,12] (0 = Monday); output forecast f32 [B,12,N].
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
FOURIER_TERMS = 4


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
    def __init__(self, dim=32, heads=4, temporal_layers=2, spatial_layers=2):
        super().__init__()
        self.value = nn.Linear(1, dim)
        self.tod = nn.Linear(2 * FOURIER_TERMS, dim)
        self.dow = nn.Embedding(7, dim)
        self.step = nn.Parameter(torch.zeros(IN_STEPS, 1, dim))  # position of the input step
        self.temporal = nn.ModuleList([Attention(dim, heads, 2 * dim) for _ in range(temporal_layers)])
        self.spatial = nn.ModuleList([Attention(dim, heads, 2 * dim) for _ in range(spatial_layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(IN_STEPS * dim, OUT_STEPS)
        self.skip = nn.Linear(IN_STEPS, OUT_STEPS)  # a linear forecast from the normalised inputs

    def forward(self, flow, time_of_day, day_of_week):
        b, t, n = flow.shape
        # Per-series normalisation over the input window. The variance floor keeps a flat
        # (constant) series finite: its normalised inputs are 0 and its forecast is its level.
        mean = flow.mean(dim=1, keepdim=True)
        centred = flow - mean
        std = torch.sqrt((centred * centred).mean(dim=1, keepdim=True) + 1e-3)
        z = centred / std  # [B, T, N]

        k = torch.arange(1, FOURIER_TERMS + 1, dtype=torch.float32) * (2 * math.pi)
        angle = time_of_day.unsqueeze(-1) * k  # [B, T, F]
        calendar = self.tod(torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)) + self.dow(day_of_week)  # [B, T, D]
        h = self.value(z.unsqueeze(-1)) + calendar.unsqueeze(2) + self.step  # [B, T, N, D]
        d = h.shape[-1]

        h = h.permute(0, 2, 1, 3).reshape(-1, t, d)  # [B*N, T, D]: attention over time
        for layer in self.temporal:
            h = layer(h)
        h = h.reshape(b, n, t, d).permute(0, 2, 1, 3).reshape(-1, n, d)  # [B*T, N, D]: across series
        for layer in self.spatial:
            h = layer(h)
        h = self.norm(h).reshape(b, t, n, d).permute(0, 2, 1, 3).reshape(b, n, t * d)
        out = self.head(h) + self.skip(z.transpose(1, 2))  # [B, N, OUT]
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
def evaluate(model, data, batch=64):
    x, y, tod, dow = data
    total, count = 0.0, 0
    per_h = torch.zeros(OUT_STEPS, dtype=torch.float64)
    per_h_count = torch.zeros(OUT_STEPS, dtype=torch.float64)
    for i in range(0, x.shape[0], batch):
        p = model(x[i:i + batch], tod[i:i + batch], dow[i:i + batch]).double()
        yt = y[i:i + batch].double()
        mask = (yt != 0).double()
        err = (p - yt).abs() * mask
        per_h += err.sum(dim=(0, 2))
        per_h_count += mask.sum(dim=(0, 2))
        total += err.sum().item()
        count += mask.sum().item()
    return total / count, (per_h / per_h_count).tolist()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.environ.get("XMODAL_SHARED", os.path.join(os.path.dirname(root), "shared")))
    ap.add_argument("--out", default=os.path.join(root, "models"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-series", type=int, default=85,
                    help="series per training batch, drawn at random (cross-series attention costs N^2; the model has no per-series parameters)")
    ap.add_argument("--subset-prob", type=float, default=0.2,
                    help="share of batches trained on a random subset of 1..32 series, so few-series inputs (xmflow) work")
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    data_dir = os.path.join(args.shared, "data", "PEMS08")
    series = np.load(os.path.join(data_dir, "PEMS08_flow_t10700-17855.npy")).astype(np.float32)
    test_index = np.load(os.path.join(data_dir, "staeformer_index.npz"))["test"]
    first_test_step = int(test_index[:, 0].min())
    # Every window whose targets end before the first step a test window reads.
    starts = np.arange(SERIES_FIRST_STEP, first_test_step - (IN_STEPS + OUT_STEPS) + 1)
    n_val = int(round(0.15 * len(starts)))
    train_starts, val_starts = starts[:-n_val], starts[-n_val:]
    train, val = make_windows(series, train_starts), make_windows(series, val_starts)
    test = make_windows(series, test_index[:, 0].astype(np.int64))
    print(f"windows: train {len(train_starts)} (x_start {train_starts[0]}..{train_starts[-1]}), "
          f"val {len(val_starts)} (x_start {val_starts[0]}..{val_starts[-1]}), test {len(test_index)}; "
          f"first test step {first_test_step}", flush=True)

    model = FlowForecaster(dim=args.dim)
    print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_starts) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.1)
    checkpoint = os.path.join(args.out, "flow_forecaster.pt")
    best_val, best_epoch = float("inf"), -1
    x, y, tod, dow = train
    n_series = x.shape[2]
    for epoch in range(args.epochs):
        t0 = time.time()
        model.train()
        order = torch.from_numpy(rng.permutation(x.shape[0]))
        loss_sum, loss_count = 0.0, 0
        for i in range(0, len(order), args.batch):
            sel = order[i:i + args.batch]
            xb, yb = x[sel], y[sel]
            size = int(rng.integers(1, 33)) if rng.random() < args.subset_prob else min(args.train_series, n_series)
            cols = torch.from_numpy(rng.choice(n_series, size=size, replace=False))
            xb, yb = xb[:, :, cols], yb[:, :, cols]
            err, count = masked_mae_sum(model(xb, tod[sel], dow[sel]), yb)
            loss = err / count.clamp(min=1)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            loss_sum += err.item()
            loss_count += count.item()
        model.eval()
        val_mae, _ = evaluate(model, val)
        if val_mae < best_val:
            best_val, best_epoch = val_mae, epoch
            torch.save(model.state_dict(), checkpoint)
        print(f"epoch {epoch}: train MAE {loss_sum / loss_count:.3f}  val MAE {val_mae:.3f}  ({time.time() - t0:.0f} s)", flush=True)

    model.load_state_dict(torch.load(checkpoint))
    model.eval()
    # Scored once, after selection; never used to choose anything.
    test_mae, test_h = evaluate(model, test)
    print(f"best epoch {best_epoch}: val MAE {best_val:.4f}; test masked MAE {test_mae:.4f} "
          f"(15/30/60 min {test_h[2]:.3f} / {test_h[5]:.3f} / {test_h[11]:.3f})", flush=True)

    onnx_path = os.path.join(args.out, "flow_forecaster.onnx")
    ex = (test[0][:2], test[2][:2], test[3][:2])
    torch.onnx.export(model, ex, onnx_path, opset_version=17, do_constant_folding=True,
                      input_names=["flow", "time_of_day", "day_of_week"], output_names=["forecast"],
                      dynamic_axes={"flow": {0: "batch", 2: "series"}, "time_of_day": {0: "batch"},
                                    "day_of_week": {0: "batch"}, "forecast": {0: "batch", 2: "series"}})
    description = {
        "model": "flow_forecaster.onnx",
        "task": "traffic-flow forecasting, 12 five-minute steps in -> 12 out, any number of series",
        "inputs": {
            "flow": "float32 [B, 12, N]: raw counts per interval, any scale (normalised per series inside)",
            "time_of_day": "float32 [B, 12]: fraction of the day (0..1) at each input step",
            "day_of_week": "int64 [B, 12]: 0 = Monday .. 6 = Sunday at each input step",
        },
        "outputs": {"forecast": "float32 [B, 12, N]: counts for the next 12 steps, same scale as flow"},
        "architecture": f"RevIN-style per-series normalisation; dim {args.dim}, 4 heads, 2 temporal + 2 cross-series "
                        "pre-norm attention layers; time-of-day Fourier features + day-of-week embedding; linear head",
        "parameters": sum(p.numel() for p in model.parameters()),
        "training_command": "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 tools/train/train_flow_forecaster.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("shared", "out")),
        "data": {
            "series": "shared/data/PEMS08/PEMS08_flow_t10700-17855.npy (steps 10700..17855 only)",
            "train_windows": f"{len(train_starts)}: x_start {int(train_starts[0])}..{int(train_starts[-1])}",
            "validation_windows": f"{len(val_starts)}: x_start {int(val_starts[0])}..{int(val_starts[-1])}",
            "test_windows": f"STAEformer/BasicTS index, {len(test_index)} windows, first input step {first_test_step}",
        },
        "best_epoch": best_epoch,
        "validation_masked_mae": round(best_val, 4),
        "pytorch_test_masked_mae": round(test_mae, 4),
        "pytorch_test_masked_mae_15_30_60min": [round(test_h[2], 4), round(test_h[5], 4), round(test_h[11], 4)],
    }
    with open(os.path.join(args.out, "flow_forecaster.json"), "w") as f:
        json.dump(description, f, indent=2)
        f.write("\n")
    os.remove(checkpoint)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes)")


if __name__ == "__main__":
    main()

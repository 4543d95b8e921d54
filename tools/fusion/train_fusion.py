#!/usr/bin/env python3
"""Trains the audio-visual fusion model (docs/FUSION.md §3) and writes models/fusion.safetensors + .json.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread nice -n 5 \\
        /usr/bin/python3 tools/fusion/train_fusion.py --data build/fusion/train.npz [--out models] [--seed 1] [--name fusion]

--name NAME writes NAME.safetensors, NAME.json and NAME_check.safetensors: a further member of an
ensemble, registered with tools/fusion/add_member.py (FUSION.md §3).

Debian's python3-torch with OpenBLAS for this process only (docs/DEPENDENCIES.md). Input: the
arrays `xmodal-eval fusion-dataset` writes from the training scenes (FUSION.md §6); the token
features are computed only there, in C++, so the model is trained on exactly what xmfuse and
`xmodal-eval fusion` feed it. Scenes of the file are split into training and validation (15 %, by
scene, from --seed); the held-out test scenes are never read here.

Model: a_i = MLP_a(audio token), o_k = MLP_o(object token) (Linear, ReLU, Linear), a learned
off-screen token; attribution = nn.MultiheadAttention(query a, keys/values [o; off]) whose
head-averaged weights are P_attr; emission = nn.MultiheadAttention(query o, keys/values a), then
Linear(D, groups) and a sigmoid. Padded objects and audio tokens are masked. Loss: negative log of
P_attr at each event token's source (object slot or off-screen; tokens without event ignored) +
BCE of the emissions of real objects. Inputs are standardised with training-split statistics, and
the standardisation is folded into the first Linear of each MLP on export, so the exported model
takes the raw C++ tokens.

Validation figure: per scene event, the query at or just after its end; the argmax of the mean
P_attr over the event's tokens against its source (what `xmodal-eval fusion` scores on the test
scenes, up to the query time falling on the 0.5 s grid here).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# FUSION.md §2-3: the sound groups (YAMNet class indices) and object classes the C++ tokens use.
SOUND_GROUPS = [{"name": "siren", "classes": [316, 317, 318, 319, 390, 391]},
                {"name": "horn", "classes": [302, 303, 312]},
                {"name": "engine", "classes": [337, 338, 342, 343, 345, 346, 347]},
                {"name": "speech", "classes": [0, 1, 2, 3, 6]}]
OBJECT_CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck", "other"]
EMBEDDING = 1024


class FusionNet(nn.Module):
    def __init__(self, fa, fo, dim, heads, groups, hidden_dropout=0.0):
        super().__init__()
        # Dropout between the MLP layers while training only: outside the Sequentials, so their
        # indices stay those of the exported names (audio_enc.0 / audio_enc.2).
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.audio_enc = nn.Sequential(nn.Linear(fa, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.object_enc = nn.Sequential(nn.Linear(fo, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.offscreen = nn.Parameter(0.1 * torch.randn(1, dim))
        self.attribute = nn.MultiheadAttention(dim, heads, kdim=dim, vdim=dim, batch_first=True)
        self.emit = nn.MultiheadAttention(dim, heads, kdim=dim, vdim=dim, batch_first=True)
        self.emission_head = nn.Linear(dim, groups)

    def forward(self, audio, audio_mask, objects, object_mask):
        """audio [B, La, Fa], audio_mask [B, La] bool (True = token), objects [B, No, Fo],
        object_mask [B, No]. Returns P_attr [B, La, No + 1] (last = off-screen) and emission
        logits [B, No, G]."""
        b = audio.shape[0]
        a = self.audio_enc[2](self.hidden_dropout(self.audio_enc[1](self.audio_enc[0](audio))))
        o = self.object_enc[2](self.hidden_dropout(self.object_enc[1](self.object_enc[0](objects))))
        keys = torch.cat([o, self.offscreen.expand(b, 1, -1)], dim=1)
        ignore_key = torch.cat([~object_mask, torch.zeros(b, 1, dtype=torch.bool)], dim=1)
        _, p_attr = self.attribute(a, keys, keys, key_padding_mask=ignore_key, need_weights=True, average_attn_weights=True)
        # A query without audio tokens emits nothing (C++: emission 0); unmask one key so the
        # softmax stays finite, its rows are not scored.
        no_audio = ~audio_mask.any(dim=1)
        ignore_audio = ~audio_mask
        ignore_audio[no_audio, 0] = False
        fused, _ = self.emit(o, a, a, key_padding_mask=ignore_audio, need_weights=False)
        return p_attr, self.emission_head(fused)


def load_dataset(path):
    d = np.load(path)
    need = ["audio", "audio_mask", "objects", "object_mask", "attr_target", "emit_target", "event_id", "scene", "time"]
    missing = [k for k in need if k not in d.files]
    if missing:
        sys.exit(f"train_fusion: {path} lacks {missing}: not an `xmodal-eval fusion-dataset` file (FUSION.md §6)")
    data = {k: d[k] for k in need}
    if "split" in d.files and (d["split"] == 2).any():
        sys.exit(f"train_fusion: {path} holds test-split scenes; build the dataset from the training scenes only")
    return data


def standardiser(x, mask):
    """Per-feature mean and std over real tokens; constant features get std 1 and nearly constant
    ones at least 0.01, so that folding 1/std into the exported weights keeps them moderate."""
    rows = x[mask.astype(bool)].astype(np.float64)
    mean = rows.mean(axis=0)
    std = rows.std(axis=0)
    std[std < 1e-6] = 1.0
    std = np.maximum(std, 0.01)
    return mean.astype(np.float32), std.astype(np.float32)


def to_torch(data, idx, audio_norm, object_norm):
    audio = (data["audio"][idx] - audio_norm[0]) / audio_norm[1]
    objects = (data["objects"][idx] - object_norm[0]) / object_norm[1]
    audio_mask = data["audio_mask"][idx].astype(bool)
    object_mask = data["object_mask"][idx].astype(bool)
    audio[~audio_mask] = 0
    objects[~object_mask] = 0
    return (torch.from_numpy(audio), torch.from_numpy(audio_mask), torch.from_numpy(objects), torch.from_numpy(object_mask),
            torch.from_numpy(data["attr_target"][idx]), torch.from_numpy(data["emit_target"][idx]),
            torch.from_numpy(data["event_id"][idx]))


def losses(model, batch, embedding_dropout=0.0, training=False, event_weight=0.0):
    """Attribution loss (mean NLL per event token, plus event_weight x the NLL of each event's
    mean P_attr over its tokens, which is what the evaluation takes the argmax of), emission BCE,
    and P_attr."""
    audio, audio_mask, objects, object_mask, target, emit_target, event_id = batch
    if training and embedding_dropout > 0:
        keep = (torch.rand(audio.shape[0], audio.shape[1], EMBEDDING) >= embedding_dropout).float() / (1 - embedding_dropout)
        audio = torch.cat([audio[..., :EMBEDDING] * keep, audio[..., EMBEDDING:]], dim=-1)
    p_attr, logits = model(audio, audio_mask, objects, object_mask)
    no = objects.shape[1]
    valid = (target != -2) & audio_mask
    slot = torch.where(target == -1, torch.full_like(target, no), target).clamp(min=0)
    picked = p_attr.gather(2, slot.unsqueeze(-1)).squeeze(-1)
    attr_loss = -(torch.log(picked + 1e-6) * valid).sum() / valid.sum().clamp(min=1)
    if event_weight > 0:
        event_nll, events = 0.0, 0
        for e in range(int(event_id.max().item()) + 1):
            toks = (valid & (event_id == e)).float()  # [B, La]
            count = toks.sum(dim=1)
            has = count > 0
            if not has.any():
                continue
            mean_p = (p_attr * toks.unsqueeze(-1)).sum(dim=1) / count.clamp(min=1).unsqueeze(-1)  # [B, No + 1]
            first = toks.argmax(dim=1)  # a token of the event: its target is the event's
            event_slot = slot.gather(1, first.unsqueeze(1)).squeeze(1)
            nll = -torch.log(mean_p.gather(1, event_slot.unsqueeze(1)).squeeze(1) + 1e-6)
            event_nll = event_nll + (nll * has).sum()
            events += int(has.sum().item())
        attr_loss = attr_loss + event_weight * event_nll / max(events, 1)
    emit_valid = object_mask & audio_mask.any(dim=1, keepdim=True)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, emit_target, reduction="none").mean(dim=-1)
    emit_loss = (bce * emit_valid).sum() / emit_valid.sum().clamp(min=1)
    return attr_loss, emit_loss, p_attr


@torch.no_grad()
def evaluate(model, data, idx, audio_norm, object_norm, batch=256):
    """Token accuracy, event accuracy (query at or after each event's end) and losses on rows idx."""
    was_training = model.training
    model.eval()
    token_ok = token_n = 0
    attr_sum = emit_sum = 0.0
    # Per scene event: the earliest query holding the most of its tokens, i.e. the first query
    # after the event ended (the evaluation queries at the end).
    per_event = {}  # (scene, event) -> (-tokens, time, correct)
    for i in range(0, len(idx), batch):
        rows = idx[i:i + batch]
        tb = to_torch(data, rows, audio_norm, object_norm)
        attr_loss, emit_loss, p_attr = losses(model, tb)
        attr_sum += attr_loss.item() * len(rows)
        emit_sum += emit_loss.item() * len(rows)
        target = tb[4].numpy()
        p = p_attr.numpy()
        no = tb[2].shape[1]
        want = np.where(target == -1, no, target)
        valid = (target != -2) & tb[1].numpy()
        token_ok += int(((p.argmax(axis=-1) == want) & valid).sum())
        token_n += int(valid.sum())
        for r, q in enumerate(rows):
            events = data["event_id"][q]
            for e in np.unique(events[(events >= 0) & valid[r]]):
                toks = (events == e) & valid[r]
                key = (int(data["scene"][q]), int(e))
                entry = (-int(toks.sum()), float(data["time"][q]), int(p[r][toks].mean(axis=0).argmax() == want[r][toks][0]))
                if key not in per_event or entry < per_event[key]:
                    per_event[key] = entry
    model.train(was_training)
    events = list(per_event.values())
    return {"token_accuracy": token_ok / max(token_n, 1), "event_accuracy": sum(e[2] for e in events) / max(len(events), 1),
            "events": len(events), "attr_loss": attr_sum / max(len(idx), 1), "emit_loss": emit_sum / max(len(idx), 1)}


def fold_standardiser(linear, mean, std):
    """Weights of Linear(x_std) = W (x - mean)/std + b as a Linear of the raw x."""
    w = linear.weight.detach().double()
    b = linear.bias.detach().double()
    w_raw = w / torch.from_numpy(std).double()[None, :]
    b_raw = b - w_raw @ torch.from_numpy(mean).double()
    return w_raw.float(), b_raw.float()


def export_tensors(model, audio_norm, object_norm):
    t = {}
    t["audio_enc.0.weight"], t["audio_enc.0.bias"] = fold_standardiser(model.audio_enc[0], *audio_norm)
    t["audio_enc.2.weight"], t["audio_enc.2.bias"] = model.audio_enc[2].weight, model.audio_enc[2].bias
    t["object_enc.0.weight"], t["object_enc.0.bias"] = fold_standardiser(model.object_enc[0], *object_norm)
    t["object_enc.2.weight"], t["object_enc.2.bias"] = model.object_enc[2].weight, model.object_enc[2].bias
    t["offscreen"] = model.offscreen
    for name in ("attribute", "emit"):
        mha = getattr(model, name)
        d = mha.embed_dim
        # nn.MultiheadAttention packs q, k, v projections in that order (kdim = vdim = D).
        w, b = mha.in_proj_weight, mha.in_proj_bias
        for i, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            t[f"{name}.{proj}.weight"] = w[i * d:(i + 1) * d]
            t[f"{name}.{proj}.bias"] = b[i * d:(i + 1) * d]
        t[f"{name}.out_proj.weight"] = mha.out_proj.weight
        t[f"{name}.out_proj.bias"] = mha.out_proj.bias
    t["emission_head.weight"], t["emission_head.bias"] = model.emission_head.weight, model.emission_head.bias
    return {k: v.detach().float().contiguous().numpy() for k, v in t.items()}


def exported_forward(t, heads, audio, objects):
    """The exported model on raw tokens of one query, in float64 NumPy, as FusionModel computes
    it (FUSION.md §3): P_attr [La, No + 1] and emission probabilities [No, G]."""
    def linear(x, name):
        return x @ t[name + ".weight"].astype(np.float64).T + t[name + ".bias"]

    def mlp(x, name):
        return linear(np.maximum(linear(x, name + ".0"), 0), name + ".2")

    def attention(q_in, kv_in, name):
        q, k, v = linear(q_in, name + ".q_proj"), linear(kv_in, name + ".k_proj"), linear(kv_in, name + ".v_proj")
        dh = q.shape[1] // heads
        weights, context = [], []
        for h in range(heads):
            cut = slice(h * dh, (h + 1) * dh)
            score = q[:, cut] @ k[:, cut].T / math.sqrt(dh)
            e = np.exp(score - score.max(axis=1, keepdims=True))
            w = e / e.sum(axis=1, keepdims=True)
            weights.append(w)
            context.append(w @ v[:, cut])
        return linear(np.concatenate(context, axis=1), name + ".out_proj"), np.mean(weights, axis=0)

    a, o = mlp(audio, "audio_enc"), mlp(objects, "object_enc")
    _, p_attr = attention(a, np.concatenate([o, t["offscreen"]], axis=0), "attribute")
    fused, _ = attention(o, a, "emit")
    logits = linear(fused, "emission_head")
    return p_attr, np.exp(-np.logaddexp(0, -logits))  # sigmoid without overflow


def self_check(model, tensors, heads, audio_norm, object_norm, data, rows):
    """The exported weights' outputs on real queries (validation rows), checked against the
    PyTorch model here and written with their inputs to fusion_check.safetensors, so that a C++
    test can check that FusionModel reads the weights as they were trained
    (tests/lib/test_fusion_weights.cpp)."""
    check, diff = {}, 0.0
    for n, q in enumerate(rows):
        am, om = data["audio_mask"][q].astype(bool), data["object_mask"][q].astype(bool)
        audio, objects = data["audio"][q][am].astype(np.float64), data["objects"][q][om].astype(np.float64)
        p_attr, emission = exported_forward(tensors, heads, audio, objects)
        with torch.no_grad():
            a = torch.from_numpy(((audio - audio_norm[0]) / audio_norm[1]).astype(np.float32))[None]
            o = torch.from_numpy(((objects - object_norm[0]) / object_norm[1]).astype(np.float32))[None]
            p_torch, logits = model(a, torch.ones(a.shape[:2], dtype=torch.bool), o, torch.ones(o.shape[:2], dtype=torch.bool))
        diff = max(diff, np.abs(p_torch[0].numpy() - p_attr).max(), np.abs(torch.sigmoid(logits[0]).numpy() - emission).max())
        check.update({f"q{n}.audio": audio, f"q{n}.objects": objects, f"q{n}.attribution": p_attr, f"q{n}.emission": emission})
    if diff > 1e-4:
        sys.exit(f"train_fusion: the exported weights differ from the trained model by {diff:.2e} on the self-check queries")
    return {k: v.astype(np.float32) for k, v in check.items()}, diff


def write_safetensors(path, tensors, metadata):
    """The safetensors format: u64 little-endian header length, a JSON header {name: {dtype,
    shape, data_offsets}, "__metadata__": {str: str}} padded with spaces to 8 bytes, raw data."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="npz from `xmodal-eval fusion-dataset` on the training scenes")
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--name", default="fusion",
                    help="file stem: writes NAME.safetensors, NAME.json, NAME_check.safetensors (an ensemble member, "
                         "tools/fusion/add_member.py)")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    ap.add_argument("--emit-weight", type=float, default=0.5)
    ap.add_argument("--embedding-dropout", type=float, default=0.5,
                    help="drop YAMNet embedding features while training: test sounds are other recordings")
    ap.add_argument("--hidden-dropout", type=float, default=0.1)
    ap.add_argument("--event-weight", type=float, default=1.0, help="weight of the per-event attribution loss")
    ap.add_argument("--val-share", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; one is fastest for this small model on a shared machine")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()

    data = load_dataset(args.data)
    q, la, fa = data["audio"].shape
    no, fo = data["objects"].shape[1:]
    groups = data["emit_target"].shape[2]
    if fa != EMBEDDING + len(SOUND_GROUPS) + 3 + 8 or fo != len(OBJECT_CLASSES) + 6 + 2 * 8 or groups != len(SOUND_GROUPS):
        sys.exit(f"train_fusion: {args.data} has Fa={fa}, Fo={fo}, {groups} groups; this trainer writes the FUSION.md "
                 f"defaults (Fa=1039, Fo=29, 4 groups, M=8)")
    scenes = np.unique(data["scene"])
    val_scenes = set(rng.choice(scenes, size=max(1, int(round(args.val_share * len(scenes)))), replace=False).tolist())
    is_val = np.array([s in val_scenes for s in data["scene"]])
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    audio_norm = standardiser(data["audio"][train_idx], data["audio_mask"][train_idx])
    object_norm = standardiser(data["objects"][train_idx], data["object_mask"][train_idx])
    print(f"data: {q} queries from {len(scenes)} scenes (La {la}, No {no}, Fa {fa}, Fo {fo}); "
          f"train {len(train_idx)} queries / {len(scenes) - len(val_scenes)} scenes, validation {len(val_idx)} / {len(val_scenes)}",
          flush=True)

    model = FusionNet(fa, fo, args.dim, args.heads, groups, args.hidden_dropout)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"parameters: {parameters}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * math.ceil(len(train_idx) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    best, best_state, best_epoch, history = None, None, -1, []
    for epoch in range(args.epochs):
        t0 = time.time()
        order = rng.permutation(train_idx)
        attr_sum = emit_sum = 0.0
        for i in range(0, len(order), args.batch):
            rows = np.sort(order[i:i + args.batch])
            attr_loss, emit_loss, _ = losses(model, to_torch(data, rows, audio_norm, object_norm), args.embedding_dropout, True,
                                             args.event_weight)
            loss = attr_loss + args.emit_weight * emit_loss
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            attr_sum += attr_loss.item() * len(rows)
            emit_sum += emit_loss.item() * len(rows)
        val = evaluate(model, data, val_idx, audio_norm, object_norm)
        history.append(val)
        print(f"epoch {epoch}: train attr {attr_sum / len(order):.4f} emit {emit_sum / len(order):.4f} | "
              f"val attr {val['attr_loss']:.4f} emit {val['emit_loss']:.4f} token acc {val['token_accuracy']:.3f} "
              f"event acc {val['event_accuracy']:.3f} ({val['events']} events) ({time.time() - t0:.0f} s)", flush=True)
        if best is None or val["event_accuracy"] > best["event_accuracy"] or \
                val["event_accuracy"] == best["event_accuracy"] and val["attr_loss"] < best["attr_loss"]:
            best, best_epoch = val, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    train_fig = evaluate(model, data, train_idx, audio_norm, object_norm)
    print(f"best epoch {best_epoch}: validation event accuracy {best['event_accuracy']:.4f} ({best['events']} events), "
          f"token accuracy {best['token_accuracy']:.4f}; training event accuracy {train_fig['event_accuracy']:.4f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, args.name + ".safetensors")
    tensors = export_tensors(model, audio_norm, object_norm)
    # Two validation queries with events and several objects for the C++ check.
    busy = [q for q in val_idx if (data["attr_target"][q] >= 0).any() and data["object_mask"][q].sum() >= 3]
    check, check_diff = self_check(model, tensors, args.heads, audio_norm, object_norm, data, busy[:2])
    write_safetensors(weights, tensors, {"attribute.heads": args.heads, "emit.heads": args.heads, "format": "pt"})
    write_safetensors(os.path.join(args.out, args.name + "_check.safetensors"), check,
                      {"about": "real validation queries (tokens as xmodal-eval fusion-dataset wrote them) and the "
                                "exported model's outputs on them in float64: q<n>.audio [La, Fa], q<n>.objects [No, Fo], "
                                "q<n>.attribution [La, No + 1], q<n>.emission [No, groups]"})
    command = "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 tools/fusion/train_fusion.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "threads", "name"))
    description = {
        "schema": "xmodal-fusion-1",
        "weights": args.name + ".safetensors",
        "task": "audio-visual attribution: which tracked object (or off-screen) makes each sound; emissions per object",
        "audio_window": 4.0, "curve_points": 8, "model_dim": args.dim, "heads": args.heads,
        "sound_groups": SOUND_GROUPS, "object_classes": OBJECT_CLASSES, "event_threshold": 0.3,
        "audio_features": fa, "object_features": fo, "parameters": parameters,
        "training_command": command,
        "seed": args.seed,
        "data": {
            "dataset": os.path.basename(args.data),
            "queries": int(q), "scenes": int(len(scenes)),
            "validation_scenes": sorted(int(s) for s in val_scenes),
            "built_by": "tools/fusion/README.md: tracks.py, build_scenes.py (train split), xmodal-eval fusion-dataset",
        },
        "best_epoch": best_epoch,
        "validation": {k: round(v, 4) if isinstance(v, float) else v for k, v in best.items()},
        "training_fit": {k: round(v, 4) if isinstance(v, float) else v for k, v in train_fig.items()},
        "training_wall_minutes": round((time.time() - started) / 60, 1),
        "self_check": {"file": args.name + "_check.safetensors", "queries": len(busy[:2]),
                       "pytorch_vs_export_max_difference": float(f"{check_diff:.3g}")},
    }
    with open(os.path.join(args.out, args.name + ".json"), "w") as f:
        json.dump(description, f, indent=2)
        f.write("\n")
    print(f"wrote {weights} ({os.path.getsize(weights)} bytes) and {args.name}.json", flush=True)


if __name__ == "__main__":
    main()

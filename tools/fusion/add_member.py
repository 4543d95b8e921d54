#!/usr/bin/env python3
"""Adds a trained fusion model to another's ensemble (docs/FUSION.md §3).

    /usr/bin/python3 tools/fusion/add_member.py models/fusion.json models/fusion_observer.json

Appends the member's weight file (as written by `train_fusion.py --name NAME`, beside the
description) to the description's "ensemble" list. FusionModel (xmfuse, xmodal-eval) then runs
every member on the same tokens and averages their attributions and emission probabilities. The
member must read the same tokens and have the same shapes: every setting FusionConfig::load reads
must be equal, else this refuses and names the first that differs. The member keeps its own
description (its training command, data, validation figures) under its own name.
"""
import argparse
import json
import os
import sys

# Everything FusionConfig::load reads besides "weights" and "ensemble" (FUSION.md §3).
SETTINGS = ("audio_window", "curve_points", "model_dim", "heads", "embedding_dim", "event_threshold",
            "min_visible_share", "presence_tolerance", "max_gap", "velocity_lag", "sound_groups",
            "object_classes", "audio_features", "object_features")


def add_member(description_path, member_path):
    with open(description_path) as f:
        description = json.load(f)
    with open(member_path) as f:
        member = json.load(f)
    for key in SETTINGS:
        if description.get(key) != member.get(key):
            raise ValueError(f"{member_path}: '{key}' is {json.dumps(member.get(key))}, but {description_path} has "
                             f"{json.dumps(description.get(key))}: an ensemble's members must read the same tokens")
    if member.get("ensemble"):
        raise ValueError(f"{member_path}: is itself an ensemble; add its members one by one")
    weights = os.path.join(os.path.dirname(os.path.abspath(member_path)), member["weights"])
    if not os.path.exists(weights):
        raise ValueError(f"{member_path}: its weights {weights} do not exist")
    name = os.path.relpath(weights, os.path.dirname(os.path.abspath(description_path)))
    members = description.setdefault("ensemble", [])
    if name in members or name == description.get("weights"):
        raise ValueError(f"{description_path}: {name} is already a member")
    members.append(name)
    with open(description_path, "w") as f:
        json.dump(description, f, indent=2)
        f.write("\n")
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("description", help="the ensemble's description (models/fusion.json)")
    ap.add_argument("member", help="the description train_fusion.py wrote for the member (NAME.json)")
    args = ap.parse_args()
    try:
        name = add_member(args.description, args.member)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"add_member: {e}")
    print(f"{args.description}: ensemble {json.load(open(args.description))['ensemble']} (added {name})")


if __name__ == "__main__":
    main()

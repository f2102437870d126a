"""`facemap-gui models ...`: stand-in generation (and, with the catalogue, download/install/list)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facemap_gui.models.standin import STAND_IN_NOTE, write_stand_in


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="manage models: stand-in, ...")
    models_sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    stand_in = models_sub.add_parser(
        "stand-in", help="write a stand-in model with the real I/O and random weights (for tests/benchmarks)")
    stand_in.add_argument("directory", type=Path)
    stand_in.add_argument("--arch", choices=("full", "tiny"), default="full",
                          help="full: the real architecture, ~5.42M random parameters; tiny: for fast tests")
    stand_in.add_argument("--precision", choices=("float", "w8a8"), default="float",
                          help="w8a8: also write facemap_3dmm_w8a8.onnx, quantised on face crops from the demo clip")
    stand_in.add_argument("--seed", type=int, default=0)
    stand_in.set_defaults(run=run_stand_in)


def run_stand_in(args: argparse.Namespace) -> int:
    path = write_stand_in(args.directory, arch=args.arch, seed=args.seed, precision=args.precision)
    print(f"wrote {path} and its basis files ({STAND_IN_NOTE})")
    return 0

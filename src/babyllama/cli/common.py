"""Options and checks that several verbs share. Only cli/ imports this module."""
from __future__ import annotations

import argparse

import torch

from babyllama.utils.device import pick_device


def add_device_argument(parser: argparse.ArgumentParser, default: str = "cpu") -> None:
    parser.add_argument("--device", default=default,
                        help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")


def device_from_args(args: argparse.Namespace) -> torch.device:
    """The --device flag as a torch.device; an unknown or missing device is a one-line error."""
    return pick_device(args.device, "--device")

"""`ecsdl COMMAND ...`: the package's commands under one name.

    ecsdl classify --model PREFIX IMAGE...     (also installed as `classify`)
    ecsdl serve --model PREFIX                 (also `classify serve`: the HTTP endpoint)
    ecsdl train [--dataset digits] ...         (also installed as `train`)
    ecsdl import-tflite SOURCE PREFIX          (a TFLite classifier -> an MXNet checkpoint)
    ecsdl archive-work FOLDER DEST             (a folder -> one tar.gz with its sha256)

`ecsdl COMMAND --help` explains the command's options.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ecsdl import __version__

# command -> (module with main(argv), one line for --help)
COMMANDS = {
    "classify": ("ecsdl.classify", "is there a cat? top-K ImageNet labels (MXNet checkpoint)"),
    "serve": ("ecsdl.serve", "serve the cat verdict over HTTP (POST /classify, GET /healthz)"),
    "train": ("ecsdl.train", "train a digit classifier (MNIST or the offline digits data)"),
    "import-tflite": (
        "ecsdl.tflite_import",
        "convert a quantized TFLite image classifier into an MXNet checkpoint",
    ),
    "archive-work": ("ecsdl.archive", "a folder as one tar.gz (S3 or a path), with its sha256"),
}


def build_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:14s} {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="ecsdl",
        description="The ecs-dl image's MXNet tools.",
        epilog=f"commands:\n{listing}\n\n`ecsdl COMMAND --help` explains a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "command", choices=list(COMMANDS), metavar="COMMAND", help=", ".join(COMMANDS)
    )
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARG", help="the command's own arguments"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.main(args.args) or 0)


if __name__ == "__main__":
    sys.exit(main())

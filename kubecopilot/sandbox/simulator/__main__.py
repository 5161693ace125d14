"""``python -m kubecopilot.sandbox.simulator --data-dir DIR``: run the node simulator of a sandbox."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from kubecopilot.sandbox.simulator._simulator import Simulator


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m kubecopilot.sandbox.simulator")
    parser.add_argument("--data-dir", required=True, type=Path, help="the sandbox's data directory")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Simulator(args.data_dir).run(stop)


if __name__ == "__main__":
    main()

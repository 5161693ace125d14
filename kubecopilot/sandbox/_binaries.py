"""Finding (or building) the four control-plane binaries: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler.

Lookup order: an explicit ``bin_dir``; ``$KUBEBUILDER_ASSETS`` (envtest's layout); ``$PATH``; the
build cache (``<user cache>/kubecopilot/control-plane/<version>``). When none holds all four,
`install()` builds them from Debian's ``kubernetes`` source package (see build-control-plane.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import platformdirs

from kubecopilot.errors import BinariesNotFoundError

__all__ = ["BINARIES", "CONTROL_PLANE_VERSION", "cache_dir", "find_binaries", "install"]

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
CONTROL_PLANE_VERSION = "v1.20.2"
_BUILD_SCRIPT = Path(__file__).with_name("build-control-plane.sh")

WAYS_OUT = (
    "Three ways out:\n"
    "  1. point --bin-dir (or KUBEBUILDER_ASSETS) at a directory holding etcd, kube-apiserver,\n"
    "     kube-controller-manager and kube-scheduler (e.g. envtest's `setup-envtest use -p path`);\n"
    "  2. put those four binaries on PATH;\n"
    "  3. run on Debian/Ubuntu with apt-get (as root or with sudo) so `kubecopilot sandbox install`\n"
    "     can build them from Debian's kubernetes source package (~6 min, cached).\n"
    "Or skip the sandbox and connect to your own cluster: kc.connect(kubeconfig=..., context=...)."
)


def cache_dir() -> Path:
    """Where built binaries are cached (``KUBECOPILOT_CACHE_DIR`` overrides the user cache dir)."""
    root = os.environ.get("KUBECOPILOT_CACHE_DIR") or platformdirs.user_cache_dir("kubecopilot")
    return Path(root) / "control-plane" / CONTROL_PLANE_VERSION


def _complete(directory: Path | None) -> bool:
    return bool(directory) and all(os.access(directory / b, os.X_OK) for b in BINARIES)  # type: ignore[operator]


def find_binaries(bin_dir: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Paths of the four binaries, or raise `BinariesNotFoundError` saying where it looked."""
    looked: list[str] = []
    if bin_dir is not None:
        d = Path(bin_dir)
        if _complete(d):
            return {b: d / b for b in BINARIES}
        missing = [b for b in BINARIES if not os.access(d / b, os.X_OK)]
        raise BinariesNotFoundError(f"--bin-dir {d} lacks {', '.join(missing)}.\n{WAYS_OUT}")
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        looked.append(f"KUBEBUILDER_ASSETS={assets}")
        if _complete(Path(assets)):
            return {b: Path(assets) / b for b in BINARIES}
    on_path = {b: shutil.which(b) for b in BINARIES}
    looked.append("PATH")
    if all(on_path.values()):
        return {b: Path(p) for b, p in on_path.items() if p}
    looked.append(str(cache_dir()))
    if _complete(cache_dir()):
        return {b: cache_dir() / b for b in BINARIES}
    raise BinariesNotFoundError(
        f"no control-plane binaries found (looked in {', '.join(looked)}). "
        f"Run `kubecopilot sandbox install` to build them.\n{WAYS_OUT}"
    )


def install(*, force: bool = False, quiet: bool = False) -> Path:
    """Build the binaries into the cache unless they are already there; return the directory."""
    dest = cache_dir()
    if _complete(dest) and not force:
        if not quiet:
            print(f"control plane {CONTROL_PLANE_VERSION} already cached in {dest}")
        return dest
    if not shutil.which("apt-get"):
        raise BinariesNotFoundError(f"cannot build the control plane: apt-get is not available here.\n{WAYS_OUT}")
    if os.geteuid() != 0 and not shutil.which("sudo"):
        raise BinariesNotFoundError(
            f"cannot build the control plane: it needs root (or sudo) for apt-get.\n{WAYS_OUT}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["bash", str(_BUILD_SCRIPT), str(dest)],
        stdout=subprocess.DEVNULL if quiet else sys.stdout,
        stderr=subprocess.STDOUT if not quiet else subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0 or not _complete(dest):
        raise BinariesNotFoundError(
            f"building the control plane failed (exit {proc.returncode}); the log above says where.\n{WAYS_OUT}"
        )
    return dest

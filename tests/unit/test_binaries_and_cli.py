"""Errors that name the way out, and the CLI's surface (no cluster needed)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kubecopilot.errors import BinariesNotFoundError
from kubecopilot.sandbox import _binaries
from kubecopilot.sandbox._pki import generate_pki
from kubecopilot.sandbox.simulator._kubeletapi import render_logs
from kubecopilot.sandbox.simulator._quantity import parse_cpu_millicores, parse_quantity


def _fake_bins(directory: Path, names: tuple[str, ...]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n in names:
        p = directory / n
        p.write_text("#!/bin/sh\n")
        p.chmod(p.stat().st_mode | stat.S_IXUSR)


def test_bin_dir_missing_binaries_names_them_and_the_ways_out(tmp_path: Path) -> None:
    _fake_bins(tmp_path, ("etcd", "kube-apiserver"))
    with pytest.raises(BinariesNotFoundError) as err:
        _binaries.find_binaries(tmp_path)
    text = str(err.value)
    assert "kube-controller-manager, kube-scheduler" in text
    assert "KUBEBUILDER_ASSETS" in text and "PATH" in text and "apt-get" in text


def test_lookup_order_prefers_kubebuilder_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bins(tmp_path / "assets", _binaries.BINARIES)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "assets"))
    found = _binaries.find_binaries()
    assert found["kube-apiserver"] == tmp_path / "assets" / "kube-apiserver"


def test_nothing_found_and_no_apt_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("KUBECOPILOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BinariesNotFoundError, match="kubecopilot sandbox install"):
        _binaries.find_binaries()
    with pytest.raises(BinariesNotFoundError, match="apt-get is not available") as err:
        _binaries.install(quiet=True)
    assert "--bin-dir" in str(err.value)


def test_pki_keys_are_private_and_reused(tmp_path: Path) -> None:
    pki = generate_pki(tmp_path / "pki")
    assert pki.ca_crt.exists() and pki.sa_pub.exists()
    assert stat.S_IMODE(os.stat(pki.apiserver_key).st_mode) == 0o600
    before = pki.ca_crt.read_bytes()
    generate_pki(tmp_path / "pki")
    assert pki.ca_crt.read_bytes() == before


@pytest.mark.parametrize(("value", "expected"), [("128Mi", 134217728), ("1G", 10**9), ("1e3", 1000), ("2", 2)])
def test_quantities(value: str, expected: int) -> None:
    assert parse_quantity(value) == expected


def test_cpu_quantities_and_bad_input() -> None:
    assert parse_cpu_millicores("250m") == 250
    assert parse_cpu_millicores("1.5") == 1500
    with pytest.raises(ValueError, match="invalid quantity '12 cores'"):
        parse_quantity("12 cores")


def test_log_rendering_options() -> None:
    lines = [(1_700_000_000.0 + i, f"line {i}") for i in range(5)]
    assert render_logs(lines, {"tailLines": "2"}) == b"line 3\nline 4\n"
    assert render_logs(lines, {"limitBytes": "8"}) == b"line 0\nl"
    stamped = render_logs(lines[:1], {"timestamps": "true"}).decode()
    assert stamped.startswith("2023-11-14T22:13:20.000000000Z line 0")


def test_cli_help_and_scenario_listing() -> None:
    run = [sys.executable, "-m", "kubecopilot.cli"]
    out = subprocess.run([*run, "sandbox", "--help"], capture_output=True, text=True, check=True).stdout
    for action in ("install", "up", "status", "logs", "down", "scenarios"):
        assert action in out
    listing = subprocess.run([*run, "sandbox", "scenarios"], capture_output=True, text=True, check=True).stdout
    assert "crashloop-missing-env" in listing and "healthy control" in listing


def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "kubecopilot.cli", "sandbox", "status", "--data-dir",
                           str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no sandbox in") and "Traceback" not in proc.stderr

"""Where the ledger lives, and the side files that sit next to it."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "KUBECOPILOT_DB"


def default_db_path() -> Path:
    """The ledger used when no path is given: ``$KUBECOPILOT_DB``, else ``<user data dir>/audit.duckdb``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("kubecopilot")) / "audit.duckdb"


def resolve_db_path(path: str | os.PathLike[str] | None) -> Path:
    """An explicit path beats the environment, which beats the default. Always absolute."""
    chosen = Path(path).expanduser() if path is not None else default_db_path()
    return chosen.absolute()


def lock_path(db: Path) -> Path:
    """The flock file that serialises every process touching ``db`` (DuckDB itself allows one writer)."""
    return db.with_name(db.name + ".lock")


def journal_path(db: Path) -> Path:
    """Events that could not be written in time wait here (JSONL, fsynced) until the next write."""
    return db.with_name(db.name + ".journal.jsonl")

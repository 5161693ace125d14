"""Kubernetes resource quantities ("500m", "1.5", "128Mi", "1G", "1e3") as numbers."""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["parse_cpu_millicores", "parse_quantity"]

_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_RE = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def parse_quantity(value: str | int | float) -> Decimal:
    """``"128Mi"`` -> 134217728; raises ValueError naming the bad quantity."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    m = _RE.match(str(value).strip())
    if not m:
        raise ValueError(f"invalid quantity {value!r}")
    return Decimal(m.group(1)) * Decimal(_SUFFIX[m.group(2) or ""])


def parse_cpu_millicores(value: str | int | float) -> int:
    return int(parse_quantity(value) * 1000)

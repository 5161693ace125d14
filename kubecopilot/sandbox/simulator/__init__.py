"""The node simulator: a process that plays the kubelet for every node declared in the control ConfigMap."""

from kubecopilot.sandbox.simulator._simulator import Simulator

__all__ = ["Simulator"]

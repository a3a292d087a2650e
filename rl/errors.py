"""The rl package's errors, in a module that does not import torch.

Why apart: the daemon catches `ModelMismatchError` when it attaches the forecast and anomaly
sources to any policy (bot/app/assembly.py); importing it from rl/networks.py loaded torch
into every paper daemon, about 380 MB of RSS for a baseline policy that never uses it.
"""

from __future__ import annotations

from model import errors


class ModelMismatchError(errors.DataError, ValueError):
    """A saved model does not fit the observations or actions it is asked to serve."""

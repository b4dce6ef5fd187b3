"""Training: :class:`Trainer`, readout losses, checkpoints, DDP, the ``snn train`` / ``snn eval`` commands.

See ``docs/training.md``. Quick start::

    from snn.train import Config, Trainer, load_splits
    cfg = from_dict({"data": {"name": "ndigits", "frames": {"dt": 2.0}}, "train": {"epochs": 5}})
"""

from .checkpoint import load_model
from .config import Config, apply_overrides, from_dict
from .data import load_splits
from .evaluate import evaluate_on_backend
from .trainer import EvalResult, Trainer

__all__ = ["Trainer", "EvalResult", "Config", "from_dict", "apply_overrides", "load_model", "load_splits",
           "evaluate_on_backend"]

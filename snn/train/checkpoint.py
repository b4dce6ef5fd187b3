"""Training checkpoints: one ``torch.save`` file of plain tensors and values, written atomically, read with
``weights_only=True``.

Contents: ``format``/``format_version``, ``ir_version`` and ``spikeforge_version`` of the writer, the resolved
``config``, ``input_shape`` and ``num_classes`` (enough to rebuild the model), the model/optimiser/scheduler/
grad-scaler states, the RNG states (python, numpy, torch, CUDA), ``epoch`` (completed epochs), the metrics
``history`` and the ``best`` record.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, _io
from ..ir import IR_VERSION

FORMAT = "spikeforge-checkpoint"
FORMAT_VERSION = 1
LAST, BEST = "last.pt", "best.pt"


def rng_state() -> dict:
    """The python, numpy, torch (and CUDA) RNG states as weights-only-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                   gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restores what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | Path, payload: dict) -> None:
    """Writes ``payload`` (plus format and version tags) to ``path`` atomically."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "ir_version": IR_VERSION,
               "spikeforge_version": __version__, **payload}
    with _io.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | Path, map_location: Any = "cpu") -> dict:
    """Reads a checkpoint file; a ValueError naming the file if it is missing, corrupt or incompatible."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint: file {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle, not a torch file at all
        raise ValueError(f"checkpoint {str(path)!r}: not a readable spikeforge checkpoint (corrupt, truncated or "
                         f"another format): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"checkpoint {str(path)!r}: expected a {FORMAT} file, got "
                         f"{ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r}")
    fv, iv = ckpt.get("format_version"), ckpt.get("ir_version")
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise ValueError(f"checkpoint {str(path)!r}: format version {fv!r} is not one this spikeforge "
                         f"({__version__}) reads (<= {FORMAT_VERSION}); upgrade spikeforge")
    if not isinstance(iv, int) or iv > IR_VERSION:
        raise ValueError(f"checkpoint {str(path)!r}: written for IR version {iv!r}, this spikeforge reads "
                         f"<= {IR_VERSION}; upgrade spikeforge")
    for key in ("config", "model", "input_shape", "num_classes"):
        if key not in ckpt:
            raise ValueError(f"checkpoint {str(path)!r}: missing entry {key!r}")
    return ckpt


def resolve(path_or_run_dir: str | Path, which: str = BEST) -> Path:
    """The checkpoint file of a run folder (``which``: ``best.pt``, falling back to ``last.pt``), or the file."""
    p = Path(path_or_run_dir)
    if p.is_dir():
        for name in (which, LAST):
            if (p / "checkpoints" / name).is_file():
                return p / "checkpoints" / name
        raise ValueError(f"checkpoint: run folder {str(p)!r} has no checkpoints/{which} or checkpoints/{LAST}")
    return p


def load_model(path_or_run_dir: str | Path, which: str = BEST):
    """Rebuilds the trained model: ``(model in eval mode, config)`` from a checkpoint file or a run folder."""
    from .. import models
    from .config import from_dict

    path = resolve(path_or_run_dir, which)
    ckpt = load(path)
    config = from_dict(ckpt["config"])
    model = models.build(config.model, tuple(ckpt["input_shape"]), ckpt["num_classes"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise ValueError(f"checkpoint {str(path)!r}: weights do not fit model {config.model!r}: {e}") from None
    return model.eval(), config

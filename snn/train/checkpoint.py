"""Training checkpoints: one ``torch.save`` file of plain tensors and values, written atomically, read with
``weights_only=True``.

Contents: ``format``/``format_version``, ``ir_version`` and ``spikeforge_version`` of the writer, the resolved
``config``, ``input_shape`` and ``num_classes`` (enough to rebuild the model), the model/optimiser/scheduler/
grad-scaler states, the RNG states (python, numpy, torch, CUDA), ``epoch`` (completed epochs), the metrics
``history`` and the ``best`` record, and ``sha256``: a hash of all of the above (:func:`content_hash`), checked on
load, so that a changed byte in the weights is an error naming the file, never a silently different model. The model
weights must be finite: a NaN or infinity is refused on save and on load, naming the tensor.

Format 1 files (before the hash) still load: ``weights_only`` reading runs no code, only their integrity cannot be
checked, which a warning says; the finite check applies to them too.

In a run folder ``last.pt`` is written before ``best.pt`` and records the best epoch (``best["epoch"]``): a run
stopped between the two writes leaves ``best.pt`` one best behind, and that best epoch is then the one in
``last.pt``. :func:`resolve` reads the best epoch from whichever file holds it and :func:`repair_best` (on resume)
rewrites ``best.pt``, so the pair is consistent at every instant.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, _io
from ..ir import IR_VERSION

FORMAT = "spikeforge-checkpoint"
FORMAT_VERSION = 2  # 2: sha256 content hash
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


def content_hash(payload: dict) -> str:
    """sha256 (hex) over every key, value and tensor of ``payload`` except ``sha256`` itself, in order.

    Tensors count by dtype, shape and raw bytes; plain values (None, bool, int, float, str) by type and exact
    ``repr``; dicts, lists and tuples by their items. The order of dict items is kept by ``torch.save`` / ``load``.
    """
    h = hashlib.sha256()
    _digest({k: v for k, v in payload.items() if k != "sha256"}, h)
    return h.hexdigest()


def _digest(value, h) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(value.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        h.update(b"D%d:" % len(value))
        for k, v in value.items():
            _digest(k, h)
            _digest(v, h)
    elif isinstance(value, (list, tuple)):
        h.update(b"%s%d:" % (b"L" if isinstance(value, list) else b"U", len(value)))
        for v in value:
            _digest(v, h)
    elif value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value).encode()
        h.update(b"%s%d:%s" % (type(value).__name__.encode(), len(text), text))
    else:
        raise TypeError(f"checkpoint: cannot store a {type(value).__name__} (plain values and tensors only)")


def check_finite(model_state: dict, where: str) -> None:
    """A ValueError naming ``where`` and the tensor if a floating-point weight of ``model_state`` is NaN or inf."""
    for name, t in model_state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise ValueError(f"{where}: model tensor {name!r} has {bad} non-finite value(s) (NaN or inf) of "
                                 f"{t.numel()}")


def save(path: str | Path, payload: dict) -> None:
    """Writes ``payload`` (plus format and version tags and its content hash) to ``path`` atomically.

    Refuses (ValueError naming the file and tensor) model weights that are not finite, e.g. of a diverged run.
    """
    check_finite(payload.get("model", {}), f"checkpoint {str(path)!r} not written (training diverged?)")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "ir_version": IR_VERSION,
               "spikeforge_version": __version__, **payload}
    payload["sha256"] = content_hash(payload)
    with _io.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | Path, map_location: Any = "cpu") -> dict:
    """Reads a checkpoint file; a ValueError naming the file if it is missing, corrupt, altered, has non-finite
    weights or is incompatible."""
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
    _check_hash(path, ckpt, fv)
    for key in ("config", "model", "input_shape", "num_classes"):
        if key not in ckpt:
            raise ValueError(f"checkpoint {str(path)!r}: missing entry {key!r}")
    if not isinstance(ckpt["model"], dict):
        raise ValueError(f"checkpoint {str(path)!r}: entry 'model' is a {type(ckpt['model']).__name__}, expected "
                         f"a state dict")
    check_finite(ckpt["model"], f"checkpoint {str(path)!r}")
    return ckpt


def _check_hash(path: Path, ckpt: dict, version: int) -> None:
    stored = ckpt.get("sha256")
    if version < 2 and stored is None:
        warnings.warn(f"checkpoint {str(path)!r}: format {version} has no content hash, its integrity is not "
                      f"checked; a run resumed from it writes format {FORMAT_VERSION}", stacklevel=3)
        return
    if not isinstance(stored, str):
        raise ValueError(f"checkpoint {str(path)!r}: the content hash (sha256) is missing; the file is damaged or "
                         f"was not written by spikeforge")
    try:
        actual = content_hash(ckpt)
    except TypeError as e:
        raise ValueError(f"checkpoint {str(path)!r}: {e}") from None
    if actual != stored:
        raise ValueError(f"checkpoint {str(path)!r}: content hash mismatch (stored sha256 {stored[:16]}..., "
                         f"contents give {actual[:16]}...): the file was altered or damaged after it was written; "
                         f"use another checkpoint")


def _epoch_of(path: Path) -> Any:
    """The ``epoch`` a checkpoint file holds (None if it is missing; a ValueError if it does not load)."""
    return load(path)["epoch"] if path.is_file() else None


def _best_source(ckpt_dir: Path, last: dict) -> tuple[Path, Any]:
    """The file that holds the best epoch ``last`` (the loaded ``last.pt``) records, and the epoch ``best.pt``
    holds: ``best.pt``, or ``last.pt`` when the run stopped between writing the two. A ValueError if neither does."""
    want = last.get("best", {}).get("epoch")
    try:
        have = _epoch_of(ckpt_dir / BEST)
    except ValueError as e:
        have = f"an unreadable file ({e})"
    if have == want:
        return ckpt_dir / BEST, have
    if want == last.get("epoch"):
        return ckpt_dir / LAST, have
    raise ValueError(f"checkpoint {str(ckpt_dir / BEST)!r} holds epoch {have}, but {LAST} records epoch {want} as "
                     f"the best and no file holds that state any more")


def repair_best(ckpt_dir: str | Path, last: dict) -> str | None:
    """Makes ``best.pt`` hold the best epoch that ``last`` (the loaded ``last.pt``) records; returns what was done
    (None if nothing was needed). A ValueError if that epoch's state exists in neither file."""
    ckpt_dir = Path(ckpt_dir)
    source, have = _best_source(ckpt_dir, last)
    if source.name == BEST:
        return None
    with _io.atomic_path(ckpt_dir / BEST) as tmp:
        shutil.copyfile(source, tmp)
    return (f"checkpoint {ckpt_dir / BEST} held epoch {have}, but {LAST} records epoch {last['best']['epoch']} as the "
            f"best (the run stopped between writing the two): copied it from {LAST}")


def resolve(path_or_run_dir: str | Path, which: str = BEST) -> Path:
    """The checkpoint file of a run folder (``which``: ``best.pt``, falling back to ``last.pt``; the best epoch is
    taken from whichever file holds it), or the file itself."""
    p = Path(path_or_run_dir)
    if p.is_dir() and which == BEST and (p / "checkpoints" / LAST).is_file():
        return _best_source(p / "checkpoints", load(p / "checkpoints" / LAST))[0]
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

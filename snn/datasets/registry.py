"""Dataset names -> loaders, default frame settings and descriptions; :func:`load` and :func:`frames`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import ndigits, nmnist, shd, synthetic
from . import encoded
from .download import default_root
from .events import EventDataset
from .frames import FrameDataset
from .transforms import FrameConfig


@dataclass(frozen=True)
class DatasetSpec:
    """What the registry knows about one dataset.

    ``open(split, root, download, **options)`` returns its :class:`EventDataset`; ``frame_defaults`` are the
    :class:`FrameConfig` fields :func:`frames` uses unless told otherwise; ``generated`` datasets are built offline
    on first use (``options`` are then their generator's knobs).
    """

    name: str
    description: str
    splits: tuple[str, ...]
    open: Callable[..., EventDataset]
    frame_defaults: dict[str, Any] = field(default_factory=dict)
    generated: bool = False
    files: str = ""


def _generated(module, config_type):
    def open_(split, root, download, progress=False, **options):
        return module.load(split, root, config_type(**options), progress=progress)
    return open_


REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("shd", "Spiking Heidelberg Digits: 700-channel cochlea spikes of spoken digits, 20 classes "
                "(8156 train / 2264 test), HDF5 from zenkelab.org",
                shd.SPLITS["shd"], lambda split, root, download, **o: shd.load("shd", split, root, download, **o),
                {"dt": 10.0, "pool": 5}, files="shd/shd_train.h5, shd/shd_test.h5"),
    DatasetSpec("ssc", "Spiking Speech Commands: SHD's format, 35 classes (75466 / 9981 / 20382)",
                shd.SPLITS["ssc"], lambda split, root, download, **o: shd.load("ssc", split, root, download, **o),
                {"dt": 10.0, "pool": 5}, files="ssc/ssc_train.h5, ssc/ssc_valid.h5, ssc/ssc_test.h5"),
    DatasetSpec("nmnist", "N-MNIST: MNIST recorded by an event camera over 3 saccades, 34 x 34 x 2, 10 classes "
                "(60000 / 10000), .bin files or the original zips", tuple(nmnist.FOLDERS),
                lambda split, root, download, **o: nmnist.load(split, root, download, **o), {"dt": 10.0},
                files="nmnist/Train/<digit>/*.bin and nmnist/Test/<digit>/*.bin, "
                      "or nmnist/train.zip and nmnist/test.zip"),
    DatasetSpec("ndigits", "offline N-MNIST look-alike: scikit-learn's 1797 8 x 8 digits seen by a simulated event "
                "camera over 3 saccades, 34 x 34 x 2, 10 classes (1437 / 360); built in seconds",
                tuple(nmnist.FOLDERS), _generated(ndigits, ndigits.NDigitsConfig),
                {"dt": 10.0, "duration": 300.0}, generated=True),
    DatasetSpec("delay-patterns", "synthetic: classes differ only in the relative spike times of the same channels "
                "(counts carry no information); solvable with synaptic delays", synthetic.SPLITS,
                _generated(synthetic.delay_patterns, synthetic.DelayPatternsConfig), {"dt": 1.0}, generated=True),
    DatasetSpec("spike-adding", "synthetic: two timed spike patterns separated by a gap, label = sum of their "
                "classes (the SHD-Adding idea); needs memory over the gap", synthetic.SPLITS,
                _generated(synthetic.spike_adding, synthetic.SpikeAddingConfig), {"dt": 2.0}, generated=True),
    DatasetSpec("digits-spikes", "scikit-learn's 8 x 8 digits as spike trains from snn.encoders (rate or latency "
                "code), 64 channels, 10 classes (1437 / 360); built in seconds", synthetic.SPLITS,
                _generated(encoded.digits_spikes, encoded.DigitsSpikesConfig), {"dt": 1.0, "duration": 30.0},
                generated=True),
)}


def available() -> list[str]:
    """Names accepted by :func:`load` and :func:`frames`."""
    return list(REGISTRY)


def spec(name: str) -> DatasetSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; available: {available()}") from None


def load(name: str, split: str = "train", root: str | Path | None = None, download: bool = False,
         **options) -> EventDataset:
    """The event dataset ``name`` / ``split``: ``ds[i] -> (events, label)`` (tonic-style structured events).

    ``root`` defaults to ``$SNN_DATA`` or ``~/.cache/spikeforge``; generated datasets take their generator's knobs
    as ``options`` (e.g. ``seed=1``) and ``progress=True`` shows a bar while they are built.
    """
    s = spec(name)
    if split not in s.splits:
        raise ValueError(f"{name}: split must be one of {list(s.splits)}, got {split!r}")
    return s.open(split, root, download, **options)


def frames(name: str, split: str = "train", dt: float | None = None, *, root: str | Path | None = None,
           cache: bool = True, download: bool = False, progress: bool = False, options: dict | None = None,
           **transform) -> FrameDataset:
    """A :class:`FrameDataset` of ``(frames (T, *feature_shape) float32, label)`` for ``name`` / ``split``.

    ``dt`` (ms) and ``transform`` (``duration``, ``start`` in ms; ``pool``, ``downsample``, ``binary``,
    ``flatten``) override the dataset's defaults (see ``snn datasets info NAME``). Frames are binned once for the
    whole split and cached in ``<root>/cache/frames`` (``cache=False`` keeps them in memory only). ``options`` go to
    :func:`load` (generator knobs for generated datasets).
    """
    s = spec(name)
    settings = dict(s.frame_defaults, **({"dt": dt} if dt is not None else {}), **transform)
    unknown = set(settings) - {f.name for f in dataclasses.fields(FrameConfig)}
    if unknown:
        raise ValueError(f"frames: unknown transform options {sorted(unknown)}")
    events = load(name, split, root, download, **({"progress": progress} if s.generated else {}), **(options or {}))
    root = Path(root).expanduser() if root is not None else default_root()
    return FrameDataset(events, FrameConfig(**settings), root / "cache" / "frames" if cache else None, progress)

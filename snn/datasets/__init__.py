"""Datasets: SHD, SSC and N-MNIST loaders, offline datasets (``ndigits``, ``delay-patterns``, ``spike-adding``),
vectorised and disk-cached binning into frames, and padding collation.

    >>> ds = snn.datasets.frames("ndigits", "train")          # (T, 2, 34, 34) float32 frames, dt = 10 ms
    >>> loader = DataLoader(ds, batch_size=64, collate_fn=snn.datasets.pad_collate)   # x: (T, B, 2, 34, 34)
"""

from .download import ChecksumError, DatasetNotFoundError, DownloadError, default_root
from .events import AUDIO_DTYPE, CAMERA_DTYPE, DatasetFormatError, DatasetWarning, EventDataset
from .frames import FrameDataset, pad_collate
from .registry import available, frames, load
from .transforms import FrameConfig

__all__ = [
    "AUDIO_DTYPE", "CAMERA_DTYPE", "ChecksumError", "DatasetFormatError", "DatasetNotFoundError", "DatasetWarning",
    "DownloadError", "EventDataset", "FrameConfig", "FrameDataset", "available", "default_root", "frames", "load",
    "pad_collate",
]

"""Sequence-level helpers of training recipes: batch norm over ``(T, B, C)`` and one-mask-per-sequence dropout."""

from .dropout import SequenceDropout
from .norm import SequenceBatchNorm, fold_batchnorm

__all__ = ["SequenceBatchNorm", "SequenceDropout", "fold_batchnorm"]

"""spikeforge: spiking neural networks with one PyTorch front end, a typed graph IR and several backends.

Front end: neurons (:class:`LIF`, :class:`CubaLIF`, :class:`LI`), synapses (:class:`Linear`, :class:`Conv2d`,
:class:`Flatten`) and :class:`Sequential`, all time-major ``(T, B, ...)`` with ``dt`` and time constants in ms.
:func:`lower` turns a model into an :mod:`snn.ir` graph that :mod:`snn.backends` run.
"""

__version__ = "0.1.0"

from . import backends, ir  # noqa: E402
from .container import Sequential  # noqa: E402
from .lower import lower, register_lowering  # noqa: E402
from .neurons import LI, LIF, CubaLIF  # noqa: E402
from .neurons import IF, AdLIF  # noqa: E402
from .neurons import ELM, BranchELM  # noqa: E402
from .neurons import AstroLIF  # noqa: E402
from .surrogate import SURROGATES, Surrogate, surrogate  # noqa: E402
from .synapses import AxonalDelayedLinear, Conv2d, DelayedLinear, Flatten, Linear  # noqa: E402
from .synapses import AvgPool2d, SumPool2d  # noqa: E402
from .synapses import delay_lowering as _delay_lowering  # noqa: E402,F401  (registers the delay lowerings)
from .layers import SequenceBatchNorm, SequenceDropout  # noqa: E402
from .nir_io import export_nir, import_nir  # noqa: E402
from .rebuild import rebuild  # noqa: E402
from . import encoders  # noqa: E402
from .neurons import elm_lowering as _elm_lowering  # noqa: E402,F401  (registers the ELM lowerings)
from .neurons import astro_lowering as _astro_lowering  # noqa: E402,F401  (registers the AstroLIF lowering)
from .neurons.readout import CubaLI, Integrator  # noqa: E402
from .layers.elementwise import Scale, Threshold  # noqa: E402
from .synapses.conv1d import Conv1d  # noqa: E402

__all__ = ["LIF", "CubaLIF", "LI", "Linear", "Conv2d", "Flatten", "Sequential", "DelayedLinear",
           "AxonalDelayedLinear", "SequenceBatchNorm", "SequenceDropout", "lower", "register_lowering",
           "ir", "backends", "Surrogate", "surrogate", "SURROGATES", "__version__",
           "export_nir", "import_nir", "rebuild", "IF", "AdLIF", "SumPool2d", "AvgPool2d", "encoders",
           "ELM", "BranchELM", "AstroLIF", "CubaLI", "Integrator", "Scale", "Threshold",
           "Conv1d"]

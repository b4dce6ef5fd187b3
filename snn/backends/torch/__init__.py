"""The PyTorch simulation backend: runs an :class:`snn.ir.Graph` on CPU or CUDA.

It reads only the IR. ``build(graph)`` returns a :class:`Simulator`; ``sim(x)`` maps a ``(T, B, *input_shape)``
tensor to the output node's ``(T, B, *output_shape)``; ``sim.run(x, record=True)`` also returns every node's output;
``TRACE_KERNELS`` give neuron nodes' membrane potentials (for plots).
"""

from .simulator import NODE_KERNELS, TRACE_KERNELS, Simulator, build, register_kernel, register_trace_kernel
from . import delay  # noqa: E402,F401  (registers the ir.DelayLinear kernel)
from . import elm  # noqa: E402,F401  (registers the ir.ELM kernel)
from . import astro  # noqa: E402,F401  (registers the ir.AstroLIF kernel)
from . import refractory  # noqa: E402,F401  (registers the ir.RefractoryLIF kernel)
from . import readout  # noqa: E402,F401  (registers the CubaLI, Integrator, Scale, Threshold, Conv1d kernels)

__all__ = ["Simulator", "build", "register_kernel", "NODE_KERNELS", "TRACE_KERNELS", "register_trace_kernel"]

"""Custom Lava processes (numpy-only process models, float and fixed point), imported only when lava is loaded.

- :mod:`.subtract_lif`: LIF with subtractive reset (``v -= vth`` on a spike), which Lava's LIF cannot express.
- :mod:`.readout`: a leaky-integrator readout sending its membrane ``v`` as a graded output each step.

They show the extension point (:func:`snn.backends.lava.lowering.register_neuron_kind`): a later node type adds an
``AbstractProcess`` plus its process models here and registers one :class:`~snn.backends.lava.lowering.NeuronKind`.
"""

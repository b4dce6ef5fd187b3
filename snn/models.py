"""Model registry: a config mapping -> an :class:`snn.Sequential`.

``build({"type": "lif", "hidden": [128], ...}, input_shape, num_classes)`` looks up the builder registered under
``type`` and calls it with the remaining keys as keyword arguments; an unknown type or key is a ValueError listing
what is accepted. Add a model type with::

    @register_model("mine")
    def mine(input_shape, num_classes, *, width=64, dt=1.0) -> snn.Sequential: ...
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

from torch import nn

from .container import Sequential
from .neurons import LI, LIF, CubaLIF
from .synapses import Flatten, Linear

Builder = Callable[..., Sequential]
MODELS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: registers ``fn(input_shape, num_classes, **options) -> Sequential`` under ``name``."""

    def deco(fn: Builder) -> Builder:
        MODELS[name] = fn
        return fn

    return deco


def _options(fn: Builder) -> list[str]:
    params = list(inspect.signature(fn).parameters.values())[2:]
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def build(config: dict, input_shape, num_classes: int) -> Sequential:
    """Builds the model ``config["type"]`` for inputs of feature shape ``input_shape`` and ``num_classes``."""
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ValueError(f"model: expected a mapping with a 'type' (one of {sorted(MODELS)}), got {config!r}")
    kind = config["type"]
    if kind not in MODELS:
        raise ValueError(f"model.type: expected one of {sorted(MODELS)}, got {kind!r}")
    fn = MODELS[kind]
    options = {k: v for k, v in config.items() if k != "type"}
    accepted = _options(fn)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"model ({kind}): unknown option(s) {unknown}; expected some of {accepted}")
    return fn(tuple(int(s) for s in input_shape), int(num_classes), **options)


@register_model("lif")
def lif_mlp(input_shape, num_classes, *, hidden=(128,), neuron="lif", tau_mem=20.0, tau_syn=5.0,
            threshold=1.0, reset="zero", recurrent=False, surrogate="atan", slope=None, dropout=0.0,
            tau_out=20.0, learn_tau=False, dt=1.0) -> Sequential:
    """Feed-forward (optionally recurrent) spiking MLP with a leaky-integrator readout.

    ``Flatten`` (for multi-dimensional inputs) -> ``[Linear -> LIF|CubaLIF (-> Dropout)] * len(hidden)`` ->
    ``Linear -> LI``. Time constants in ms, ``dt`` in ms (match the dataset's frame ``dt``); ``neuron`` is
    ``lif`` or ``cuba``; the readout's membrane ``(T, B, num_classes)`` is the model output.
    """
    if isinstance(hidden, int):
        hidden = [hidden]
    if not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
        raise ValueError(f"model (lif): hidden: expected a list of positive layer sizes, got {hidden!r}")
    if neuron not in ("lif", "cuba"):
        raise ValueError(f"model (lif): neuron: expected 'lif' or 'cuba', got {neuron!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"model (lif): dropout: expected a number in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    if len(input_shape) > 1:
        layers.append(Flatten(input_shape))
    width = math.prod(input_shape)
    for h in hidden:
        layers.append(Linear(width, h))
        common = dict(tau_mem=tau_mem, threshold=threshold, reset=reset, dt=dt, recurrent=recurrent,
                      surrogate=surrogate, slope=slope, learn_tau=learn_tau)
        layers.append(CubaLIF(h, tau_syn=tau_syn, **common) if neuron == "cuba" else LIF(h, **common))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers += [Linear(width, num_classes), LI(num_classes, tau_mem=tau_out, dt=dt, learn_tau=learn_tau)]
    return Sequential(*layers)


@register_model("delay")
def delay_mlp(input_shape, num_classes, *, hidden=(256, 256), max_delay=25, tau_mem=10.05, threshold=1.0,
              reset="zero", surrogate="atan", slope=5.0, dropout=0.4, batchnorm=True, readout_delay=True,
              sigma_final=0.23, dt=10.0) -> Sequential:
    """Learnable-delay network of Hammouamri et al. (SPEC §3): per hidden layer ``DelayedLinear -> SequenceBatchNorm
    -> LIF -> SequenceDropout`` (no bias, one dropout mask per sequence), readout ``DelayedLinear`` (or ``Linear``
    with ``readout_delay: false``) ``-> LI``. ``max_delay``: taps K (odd; delays 0..K-1 steps of ``dt`` ms).
    Give ``positions`` its own optimiser group; the layers anneal sigma and clamp positions through trainer hooks.
    """
    from .layers import SequenceBatchNorm, SequenceDropout
    from .synapses import DelayedLinear

    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    if not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
        raise ValueError(f"model (delay): hidden: expected a list of positive layer sizes, got {hidden!r}")
    layers: list[nn.Module] = [Flatten(input_shape)] if len(input_shape) > 1 else []
    width = math.prod(input_shape)
    for h in hidden:
        layers.append(DelayedLinear(width, h, max_delay, sigma_final=sigma_final))
        if batchnorm:
            layers.append(SequenceBatchNorm(h))
        layers.append(LIF(h, tau_mem=tau_mem, threshold=threshold, reset=reset, dt=dt, surrogate=surrogate,
                          slope=slope))
        if dropout:
            layers.append(SequenceDropout(dropout))
        width = h
    readout = DelayedLinear(width, num_classes, max_delay, sigma_final=sigma_final) if readout_delay \
        else Linear(width, num_classes, bias=False)
    return Sequential(*layers, readout, LI(num_classes, tau_mem=tau_mem, dt=dt))


@register_model("astro")
def astro_mlp(input_shape, num_classes, *, hidden=(128,), groups=1, key_size=8, decay=0.9, learn_decay=True,
              normalise="ema", tau_mem=20.0, threshold=1.0, surrogate="atan", slope=None, init_scale=1.0,
              chunk=None, tau_out=20.0, dt=1.0) -> Sequential:
    """Spiking MLP of AM-SU-style astrocyte-modulated LIF layers (SPEC §2, :class:`snn.AstroLIF`).

    ``Flatten`` (for multi-dimensional inputs) -> ``[Linear -> AstroLIF] * len(hidden)`` -> ``Linear -> LI``;
    ``groups`` astrocyte domains per layer with ``key_size`` keys each, astrocyte ``decay`` in (0, 1) per step (a
    number or one per key), ``init_scale`` of the key/value/query weights, ``chunk`` for the parallel astrocyte
    form (see :class:`snn.AstroLIF`).
    Time constants in ms, ``dt`` in ms; the readout's membrane ``(T, B, num_classes)`` is the model output.
    """
    from .neurons import AstroLIF

    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    if not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
        raise ValueError(f"model (astro): hidden: expected a list of positive layer sizes, got {hidden!r}")
    layers: list[nn.Module] = [Flatten(input_shape)] if len(input_shape) > 1 else []
    width = math.prod(input_shape)
    for h in hidden:
        layers += [Linear(width, h), AstroLIF(h, groups=groups, key_size=key_size, decay=decay,
                                              learn_decay=learn_decay, normalise=normalise, tau_mem=tau_mem,
                                              threshold=threshold, dt=dt, surrogate=surrogate, slope=slope,
                                              init_scale=init_scale, chunk=chunk)]
        width = h
    return Sequential(*layers, Linear(width, num_classes), LI(num_classes, tau_mem=tau_out, dt=dt))

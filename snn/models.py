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
from .neurons import IF, AdLIF
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
            tau_out=20.0, learn_tau=False, dt=1.0, adaptation=None) -> Sequential:
    """Feed-forward (optionally recurrent) spiking MLP with a leaky-integrator readout.

    ``Flatten`` (for multi-dimensional inputs) -> ``[Linear -> neuron (-> Dropout)] * len(hidden)`` ->
    ``Linear -> LI``. Time constants in ms, ``dt`` in ms (match the dataset's frame ``dt``); ``neuron`` is
    ``lif``, ``cuba``, ``adlif`` (:class:`snn.AdLIF`, SE-adLIF) or ``if`` (no leak: ``tau_mem``, ``dt`` and
    ``learn_tau`` do not apply to it); ``adaptation``: a mapping of :class:`snn.AdLIF` options (``tau_adapt``,
    ``a``, ``b``, ``q``, ``learn_adaptation``), only with ``adlif``. The readout's membrane ``(T, B, num_classes)``
    is the model output.
    """
    if isinstance(hidden, int):
        hidden = [hidden]
    if not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
        raise ValueError(f"model (lif): hidden: expected a list of positive layer sizes, got {hidden!r}")
    if neuron not in NEURONS:
        raise ValueError(f"model (lif): neuron: expected one of {list(NEURONS)}, got {neuron!r}")
    adaptation = _adaptation_options(adaptation, neuron)
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
        layers.append(_neuron_layer(neuron, h, common, tau_syn, adaptation))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers += [Linear(width, num_classes), LI(num_classes, tau_mem=tau_out, dt=dt, learn_tau=learn_tau)]
    return Sequential(*layers)


NEURONS = ("lif", "cuba", "adlif", "if")
_ADAPTATION_KEYS = ("tau_adapt", "a", "b", "q", "learn_adaptation")


def _adaptation_options(adaptation, neuron: str) -> dict:
    if adaptation is None:
        return {}
    if neuron != "adlif":
        raise ValueError(f"model (lif): adaptation: only for neuron 'adlif', got neuron {neuron!r}")
    if not isinstance(adaptation, dict) or set(adaptation) - set(_ADAPTATION_KEYS):
        unknown = sorted(set(adaptation) - set(_ADAPTATION_KEYS)) if isinstance(adaptation, dict) else adaptation
        raise ValueError(f"model (lif): adaptation: expected a mapping with some of {list(_ADAPTATION_KEYS)}, "
                         f"got {unknown!r}")
    return dict(adaptation)


def _neuron_layer(neuron: str, n: int, common: dict, tau_syn, adaptation: dict) -> nn.Module:
    """The hidden neuron layer ``neuron`` of ``n`` neurons with the shared options ``common``."""
    if neuron == "cuba":
        return CubaLIF(n, tau_syn=tau_syn, **common)
    if neuron == "adlif":
        return AdLIF(n, **common, **adaptation)
    if neuron == "if":
        return IF(n, **{k: v for k, v in common.items() if k not in ("tau_mem", "dt", "learn_tau")})
    return LIF(n, **common)


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


@register_model("conv")
def conv_net(input_shape, num_classes, *, channels=(16, 32), kernel=3, stride=1, pool="avg", pool_size=2,
             hidden=(), tau_mem=20.0, threshold=1.0, reset="zero", surrogate="atan", slope=None, dropout=0.0,
             tau_out=20.0, dt=1.0) -> Sequential:
    """Convolutional spiking network for camera frames ``(C, H, W)``.

    ``[Conv2d(k = kernel, stride, zero padding k // 2) -> LIF -> pool] * len(channels)`` -> ``Flatten`` ->
    ``[Linear -> LIF (-> Dropout)] * len(hidden)`` -> ``Linear -> LI``. ``pool``: ``avg`` (:class:`snn.AvgPool2d`,
    the default: it trained best on ``ndigits``, docs/training.md) or ``sum`` (:class:`snn.SumPool2d`, spike
    counts) over ``pool_size`` x ``pool_size`` windows (stride ``pool_size``, pixels), or ``none`` (down-sample with
    ``stride`` instead). Time constants and ``dt`` in ms.
    """
    from .synapses import AvgPool2d, Conv2d, SumPool2d

    if len(input_shape) != 3:
        raise ValueError(f"model (conv): expected frames of shape (C, H, W), got input shape {tuple(input_shape)}; "
                         f"use model.type lif for flat inputs")
    channels = [channels] if isinstance(channels, int) else list(channels)
    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    for key, sizes in (("channels", channels), ("hidden", hidden)):
        if not all(isinstance(c, int) and c > 0 for c in sizes):
            raise ValueError(f"model (conv): {key}: expected a list of positive sizes, got {sizes!r}")
    if not channels:
        raise ValueError("model (conv): channels: expected at least one convolution block, got []")
    pools = {"sum": SumPool2d, "avg": AvgPool2d, "none": None}
    if pool not in pools:
        raise ValueError(f"model (conv): pool: expected one of {list(pools)}, got {pool!r}")
    for key, value in (("kernel", kernel), ("stride", stride), ("pool_size", pool_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"model (conv): {key}: expected an int >= 1, got {value!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"model (conv): dropout: expected a number in [0, 1), got {dropout!r}")
    neuron = dict(tau_mem=tau_mem, threshold=threshold, reset=reset, dt=dt, surrogate=surrogate, slope=slope)
    layers: list[nn.Module] = []
    shape = tuple(input_shape)
    for c in channels:
        conv = Conv2d(shape[0], c, kernel, stride=stride, padding=kernel // 2)
        shape = conv.output_shape(shape)
        layers += [conv, LIF(shape, **neuron)]
        if pools[pool] is not None:
            layers.append(pools[pool](pool_size))
            pooled = layers[-1].output_shape(shape)
            if min(pooled[1:]) < 1:
                raise ValueError(f"model (conv): pool_size: {pool_size} x {pool_size} pooling leaves no pixel of a "
                                 f"{shape[1:]} frame (block {len(layers) // 3}); use fewer blocks or pool: none")
            shape = pooled
    layers.append(Flatten(shape))
    width = math.prod(shape)
    for h in hidden:
        layers += [Linear(width, h), LIF(h, **neuron)] + ([nn.Dropout(dropout)] if dropout else [])
        width = h
    layers += [Linear(width, num_classes), LI(num_classes, tau_mem=tau_out, dt=dt)]
    return Sequential(*layers)
def _elm_layers(input_shape, input_dropout: float, kind: str) -> list[nn.Module]:
    if isinstance(input_dropout, bool) or not isinstance(input_dropout, (int, float)) or not 0 <= input_dropout < 1:
        raise ValueError(f"model ({kind}): input_dropout: expected a number in [0, 1), got {input_dropout!r}")
    layers: list[nn.Module] = [Flatten(input_shape)] if len(input_shape) > 1 else []
    return layers + ([nn.Dropout(input_dropout)] if input_dropout else [])
@register_model("elm")
def elm(input_shape, num_classes, *, memory_units=100, mlp_hidden=None, tau_s=5.0, tau_m_init=(1.0, 150.0),
        tau_m_bounds=(0.0, 1000.0), learn_tau_m=True, lam=5.0, update="v1", w_s_init=0.5, input_dropout=0.0,
        dt=1.0) -> Sequential:
    """One Expressive Leaky Memory layer (Spieler et al. 2024; :class:`snn.ELM`) whose linear output ``(T, B,
    num_classes)`` is the model output: ``[Flatten] -> [Dropout(input_dropout)] -> ELM``. Times in ms; pair it with
    ``loss.kind: last`` (the paper's loss on the last step)."""
    from .neurons import ELM
    return Sequential(*_elm_layers(input_shape, input_dropout, "elm"),
                      ELM(math.prod(input_shape), num_classes, memory_units, mlp_hidden=mlp_hidden, tau_s=tau_s,
                          tau_m_init=tuple(tau_m_init), tau_m_bounds=tuple(tau_m_bounds), learn_tau_m=learn_tau_m,
                          lam=lam, update=update, w_s_init=w_s_init, dt=dt))
@register_model("branch_elm")
def branch_elm(input_shape, num_classes, *, memory_units=100, branches=100, synapses_per_branch=15, routing_seed=0,
               mlp_hidden=None, tau_s=5.0, tau_m_init=(1.0, 150.0), tau_m_bounds=(0.0, 1000.0), learn_tau_m=True,
               lam=5.0, update="v1", w_s_init=0.5, input_dropout=0.0, dt=1.0) -> Sequential:
    """As ``elm`` with a :class:`snn.BranchELM`: ``branches * synapses_per_branch`` synapses routed at random
    (``routing_seed``; the routing is saved with the model)."""
    from .neurons import BranchELM
    return Sequential(*_elm_layers(input_shape, input_dropout, "branch_elm"),
                      BranchELM(math.prod(input_shape), num_classes, memory_units, branches=branches,
                                synapses_per_branch=synapses_per_branch, routing_seed=routing_seed,
                                mlp_hidden=mlp_hidden, tau_s=tau_s, tau_m_init=tuple(tau_m_init),
                                tau_m_bounds=tuple(tau_m_bounds), learn_tau_m=learn_tau_m, lam=lam, update=update,
                                w_s_init=w_s_init, dt=dt))


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

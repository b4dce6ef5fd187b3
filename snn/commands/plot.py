"""``snn plot RUN``: spike raster, membrane traces and firing-rate histograms of a trained run
(:mod:`snn.train.activity`)."""

from __future__ import annotations



def parse_neurons(text: str | None) -> list[int] | None:
    """``"0,5,7"`` -> ``[0, 5, 7]`` (None stays None); a ValueError naming the option otherwise."""
    if text is None:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--neurons: expected comma-separated neuron indices such as 0,5,7, got {text!r}") from None


def _cmd_plot(args) -> int:
    from ..train.activity import plot_run

    drawn = plot_run(args.run, args.split, samples=args.samples, sample=args.sample,
                     neurons=parse_neurons(args.neurons), out=args.out, data_overrides=args.set or [])
    print("wrote " + ", ".join(str(p) for p in drawn["paths"].values()))
    return 0


def add_plot_options(p) -> None:
    """The options that choose what ``snn plot`` and ``snn eval --plots`` show."""
    p.add_argument("--samples", type=int, default=32, help="samples run for the firing-rate histograms (default 32)")
    p.add_argument("--sample", type=int, default=0, help="which of them the raster and traces show (default 0)")
    p.add_argument("--neurons", metavar="I,J,...", help="neuron indices traced in every layer (default: the 3 most "
                                                        "active of each spiking layer, the readout's first 10)")


def register(sub) -> None:
    p = sub.add_parser("plot", help="spike raster, membrane traces and firing-rate histograms of a trained run",
                       description="Lower the run's best checkpoint to the IR, run samples of a split on the torch "
                                   "backend recording every layer, and write activity-<split>-raster.png, "
                                   "-membrane.png and -rates.png into the run folder.")
    p.add_argument("run", help="a run folder (uses checkpoints/best.pt) or a checkpoint file")
    p.add_argument("--split", default="test", help="dataset split (default test)")
    add_plot_options(p)
    p.add_argument("--out", metavar="DIR", help="where the PNGs go (default: the run folder)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a data override, e.g. data.root=/data")
    p.set_defaults(func=_cmd_plot)

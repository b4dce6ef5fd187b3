"""Training throughput on the demo's shapes (ndigits frames: T = 30, 2x17x17 = 578 inputs, 578-128-10 LIF network,
zero reset, LI readout, cross-entropy on the summed membrane, Adam, batch 64): spikeforge's model + loss step, the
whole spikeforge Trainer epoch (data loading, metrics, checkpointing off), and snnTorch's Leaky on the same network.
Writes the "Training (issue 4)" section of docs/benchmarks.md."""

from __future__ import annotations

import math
import os

import torch
from torch import nn

import snn
from _report import machine, write_section
from bench_delays import timeit
from snn.train import Trainer, from_dict
from snn.train.losses import readout_loss

T, B, N_IN, N_HID, N_OUT, STEPS = 30, 64, 578, 128, 10, 20
BETA_HID, BETA_OUT = math.exp(-10 / 20), math.exp(-10 / 20)  # dt 10 ms, tau 20 ms


def _batch():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(T, B, N_IN, generator=g) < 0.05).float(), torch.randint(0, N_OUT, (B,), generator=g)


def spikeforge_step():
    torch.manual_seed(0)
    model = snn.models.build({"type": "lif", "hidden": [N_HID], "tau_mem": 20.0, "reset": "zero", "tau_out": 20.0,
                              "dt": 10.0}, (N_IN,), N_OUT)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _batch()

    def step():
        out, _ = model(x)
        loss = readout_loss(out, y, "sum")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def snntorch_step():
    import snntorch
    from snntorch import surrogate

    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)
    lif = snntorch.Leaky(beta=BETA_HID, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan())
    readout = snntorch.Leaky(beta=BETA_OUT, reset_mechanism="none")
    params = list(fc1.parameters()) + list(fc2.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = _batch()

    def step():
        mem1, mem2 = lif.init_leaky(), readout.init_leaky()
        total = 0
        for t in range(T):
            spk, mem1 = lif(fc1(x[t]), mem1)
            _, mem2 = readout(fc2(spk), mem2)
            total = total + mem2
        loss = nn.functional.cross_entropy(total, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


class _Frames(torch.utils.data.Dataset):
    feature_shape, num_classes, dt = (N_IN,), N_OUT, 10.0

    def __init__(self, n):
        g = torch.Generator().manual_seed(1)
        self.x = (torch.rand(n, T, N_IN, generator=g) < 0.05).float()
        self.y = torch.randint(0, N_OUT, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def trainer_samples_per_s() -> float:
    cfg = from_dict({"model": {"hidden": [N_HID], "tau_mem": 20.0, "reset": "zero", "tau_out": 20.0},
                     "train": {"epochs": 2, "batch_size": B, "quiet": True}, "data": {"val_fraction": 0.0}})
    trainer = Trainer(cfg, _Frames(B * STEPS))
    history = trainer.fit()
    return history[-1]["samples_per_s"]  # the second epoch: warm


def main() -> None:
    import snntorch

    times = timeit({"ours": spikeforge_step(), "peer": snntorch_step()}, STEPS)
    ours, peer = times["ours"], times["peer"]
    epoch = trainer_samples_per_s()
    rows = [("spikeforge model + loss + Adam step", B / ours, ours),
            ("spikeforge Trainer epoch (loader, metrics, rates)", epoch, B / epoch),
            (f"snnTorch {snntorch.__version__} Leaky, same network", B / peer, peer)]
    body = [f"Machine: {machine()}.", "",
            f"One training step on the `make demo` shapes: T = {T}, batch {B}, {N_IN}-{N_HID}-{N_OUT} LIF "
            "(zero reset) with LI readout, cross-entropy on the summed membrane, Adam; median of "
            f"{STEPS} steps taken round-robin with the snnTorch step, after a warm-up.", "",
            "| what | samples/s | s per batch |", "|---|---:|---:|"]
    body += [f"| {name} | {sps:.0f} | {sec:.4f} |" for name, sps, sec in rows]
    body += ["", f"spikeforge step / snnTorch step time: {ours / peer:.2f}x (below 1: spikeforge faster). "
             f"Trainer overhead over the bare step: {(B / epoch) / ours:.2f}x. Load average during the run: "
             f"{os.getloadavg()[0]:.1f} (a shared machine: compare only the ratios)."]
    text = "\n".join(body)
    write_section("Training (issue 4)", text)
    print(text)


if __name__ == "__main__":
    main()

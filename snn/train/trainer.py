"""The training loop: plain PyTorch, one process or DDP under torchrun.

:class:`Trainer` builds the model from the config (:mod:`snn.models`), trains it with the readout loss of
:mod:`snn.train.losses`, logs one JSON line per epoch, checkpoints every epoch (``last.pt``) and the best epoch so far
(``best.pt``), and resumes from ``last.pt`` exactly (same data order, dropout masks and optimiser state).

A run folder belongs to one run: ``fit()`` holds its lock (:mod:`snn.train.rundir`) while it writes, refuses a
folder that already holds another run's epochs unless resuming, and restarts from scratch a run that stopped before
completing epoch 1. Ctrl-C and SIGTERM stop at a safe point (:mod:`snn.train.signals`).

Hooks for layers with training-time schedules (called on every module of the model that defines them):

- ``module.after_optimizer_step()`` after each optimiser step (e.g. clamping delay positions);
- ``module.epoch_end(epoch, num_epochs)`` after each training epoch, ``epoch`` counting from 1 (e.g. annealing a
  kernel width); keep such state in buffers so that checkpoints capture it.

Callbacks (objects passed as ``callbacks=[...]``) may define ``on_batch_end(trainer, epoch, step)`` and
``on_epoch_end(trainer, record)``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from .. import _io, _progress, models
from ..container import Sequential
from ..neurons.lif import LIF
from . import checkpoint, distributed, losses, rundir, signals
from .config import Config, dump
from .schedules import build_optimizer


@dataclass
class EvalResult:
    """``loss`` (mean cross-entropy), ``accuracy`` (0..1), ``confusion`` ``(C, C)`` counts (row: true class),
    ``rates`` per recorded layer (spikes per neuron and step), ``samples``."""

    loss: float
    accuracy: float
    confusion: np.ndarray
    rates: dict = field(default_factory=dict)
    samples: int = 0


def split_validation(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Optional[Dataset]]:
    """Splits ``dataset`` into (train, validation) subsets with a permutation drawn from ``seed``."""
    if fraction <= 0:
        return dataset, None
    n = len(dataset)
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"data.val_fraction: {fraction} leaves no training samples out of {n}")
    order = np.random.default_rng([seed, 12345]).permutation(n)
    return Subset(dataset, sorted(order[n_val:].tolist())), Subset(dataset, sorted(order[:n_val].tolist()))


_NOT_PLAIN = object()


def _plain(value):
    """``value`` as a YAML-plain value (tuples become lists), or ``_NOT_PLAIN``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    return _NOT_PLAIN


def resolve_model_dt(model: dict, data_dt) -> None:
    """Gives the model config ``model`` the dataset's frame ``dt`` (ms) unless it sets one; checks they agree."""
    builder = models.MODELS.get(model.get("type"))
    if builder is None or data_dt is None or "dt" not in models._options(builder):
        return
    if "dt" not in model:
        model["dt"] = float(data_dt)
    elif not math.isclose(float(model["dt"]), float(data_dt), rel_tol=1e-6):
        raise ValueError(f"config: model.dt = {model['dt']} ms but the dataset's frames are "
                         f"{data_dt} ms apart; set model.dt to {data_dt} or drop it")


def fill_model_defaults(model: dict) -> None:
    """Writes the builder's default of every model option the config ``model`` leaves out (plain values only), so
    that ``config.yaml`` and the checkpoints record the whole architecture."""
    builder = models.MODELS.get(model.get("type"))
    if builder is None:
        return
    for p in inspect.signature(builder).parameters.values():
        if p.kind is p.KEYWORD_ONLY and p.default is not p.empty and p.name not in model:
            value = _plain(p.default)
            if value is not _NOT_PLAIN:
                model[p.name] = value


def _collate():
    from ..datasets import pad_collate

    return pad_collate


class _SpikeRecorder:
    """Keeps the spike output of every LIF-family layer for the firing-rate terms: through the ``observer`` of the
    ``snn.Sequential`` holding it (which keeps fused Linear + LIF pairs fused), or a forward hook elsewhere."""

    def __init__(self, model: nn.Module) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.names = {m: f"{type(m).__name__.lower()}_{name}" for name, m in model.named_modules()
                      if isinstance(m, LIF)}
        observed = set()
        for container in model.modules():
            if isinstance(container, Sequential):
                container.observer = self._observe
                observed.update(m for m in container.children() if m in self.names)
        self.handles = [m.register_forward_hook(self._hook) for m in self.names if m not in observed]

    def _observe(self, module: nn.Module, output: torch.Tensor) -> None:
        name = self.names.get(module)
        if name is not None:
            self.outputs[name] = output

    def _hook(self, module, inputs, output):
        self.outputs[self.names[module]] = output[0]

    def clear(self) -> None:
        self.outputs = {}


def _call_module_hooks(model: nn.Module, name: str, *args) -> None:
    for m in model.modules():
        fn = getattr(m, name, None)
        if callable(fn):
            fn(*args)


class Trainer:
    """Trains ``models.build(config.model, ...)`` on ``train_set`` (a dataset of ``(frames (T, ...), label)``
    with ``feature_shape`` and ``num_classes``, e.g. :func:`snn.datasets.frames`).

    Args:
        config: the validated run config.
        train_set: training data; ``val_set``: validation data (early stopping and best-checkpoint choice) or None.
        run_dir: where checkpoints, the log and plots go (None: write nothing).
        ctx: the DDP context (:func:`snn.train.distributed.setup`); default single process on ``config.train.device``.
        callbacks: objects with optional ``on_batch_end`` / ``on_epoch_end``.

    ``fit()`` trains (continuing from ``run_dir/checkpoints/last.pt`` when ``resume=True``) and returns the history.
    """

    def __init__(self, config: Config, train_set: Dataset, *, val_set: Optional[Dataset] = None,
                 run_dir: str | Path | None = None, ctx: Optional[distributed.Context] = None,
                 callbacks: Sequence[Any] = ()) -> None:
        self.config = config
        self.ctx = ctx or distributed.Context(device=distributed.pick_device(config.train.device))
        self.device = self.ctx.device
        self.train_set, self.val_set = train_set, val_set
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.callbacks = list(callbacks)
        base = train_set.dataset if isinstance(train_set, Subset) else train_set
        self.input_shape = tuple(int(s) for s in base.feature_shape)
        self.num_classes = int(base.num_classes)
        resolve_model_dt(self.config.model, getattr(base, "dt", None))
        fill_model_defaults(self.config.model)
        torch.manual_seed(config.seed)
        self.model = models.build(config.model, self.input_shape, self.num_classes).to(self.device)
        self.recorder = _SpikeRecorder(self.model)
        self.net: nn.Module = self.model
        if self.ctx.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.sampler = distributed.ShardedBatchSampler(len(train_set), config.train.batch_size, shuffle=True,
                                                       seed=config.seed, rank=self.ctx.rank,
                                                       world_size=self.ctx.world_size)
        self.loader = DataLoader(train_set, batch_sampler=self.sampler, collate_fn=_collate(),
                                 num_workers=config.data.num_workers)
        total_steps = config.train.epochs * max(1, len(self.sampler))
        self.optimizer, self.scheduler = build_optimizer(self.model, config.optim, total_steps)
        self.amp = bool(config.train.amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.epoch = 0
        self.history: list[dict] = []
        self.best: dict = {}
        self.interrupted = False
        self.stop_signal: Optional[int] = None  # the signal that stopped fit(), if one did
        self._tb = None

    # -- set-up -----------------------------------------------------------------------------------------------------

    @property
    def monitor(self) -> str:
        """The metric that picks the best epoch and drives early stopping (higher is better)."""
        return "val_acc" if self.val_set is not None else "train_acc"

    # -- one batch / one epoch --------------------------------------------------------------------------------------

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            out, _ = self.net(x)
        return out.float()

    def _train_step(self, x, y, lengths) -> tuple[torch.Tensor, torch.Tensor, list]:
        cfg = self.config
        n_global = distributed.all_sum(self.ctx, torch.tensor(float(len(y)), device=self.device))
        self.recorder.clear()
        out = self._forward(x)
        # sum over this rank's samples / global batch size, times world size: DDP's mean over ranks then gives the
        # mean over the global batch, exactly as one process would.
        loss = losses.readout_loss(out, y, cfg.loss.kind, lengths, reduction="sum") * self.ctx.world_size / n_global
        rates = losses.firing_rates(list(self.recorder.outputs.values()), lengths)
        total = loss
        if cfg.loss.rate_weight > 0:
            total = total + cfg.loss.rate_weight * losses.rate_penalty(rates, cfg.loss.rate_target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if cfg.optim.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        _call_module_hooks(self.model, "after_optimizer_step")
        correct = (losses.predict(out.detach(), cfg.loss.kind, lengths) == y).sum()
        return loss.detach() * n_global / self.ctx.world_size, correct, [r.detach() for r in rates]

    def _train_epoch(self) -> dict:
        self.model.train()
        self.sampler.set_epoch(self.epoch)
        sums = torch.zeros(3, device=self.device)  # loss sum, correct, samples
        rate_sums = None
        quiet = self.config.train.quiet or not self.ctx.is_main
        bar = _progress.bar(self.loader, desc=f"epoch {self.epoch + 1}/{self.config.train.epochs}", unit="batch",
                            disable=quiet, leave=False, dynamic_ncols=True)
        start = time.perf_counter()
        for step, (x, y, lengths) in enumerate(bar):
            x, y, lengths = x.to(self.device), y.to(self.device), lengths.to(self.device)
            loss_sum, correct, rates = self._train_step(x, y, lengths)
            sums += torch.stack([loss_sum, correct.float(), torch.tensor(float(len(y)), device=self.device)])
            batch_rates = torch.stack(rates) * len(y) if rates else torch.zeros(0, device=self.device)
            rate_sums = batch_rates if rate_sums is None else rate_sums + batch_rates
            if not bar.disable:
                bar.set_postfix(loss=f"{sums[0].item() / sums[2].item():.4f}",
                                acc=f"{sums[1].item() / sums[2].item():.3f}")
            for cb in self.callbacks:
                if hasattr(cb, "on_batch_end"):
                    cb.on_batch_end(self, self.epoch, step)
        bar.close()
        elapsed = time.perf_counter() - start
        _call_module_hooks(self.model, "epoch_end", self.epoch + 1, self.config.train.epochs)
        sums = distributed.all_sum(self.ctx, sums)
        n = max(sums[2].item(), 1.0)
        rates = {}
        if rate_sums is not None and rate_sums.numel():
            rate_sums = distributed.all_sum(self.ctx, rate_sums)
            rates = {name: (r / n).item() for name, r in zip(self.recorder.outputs, rate_sums)}
        return {"train_loss": sums[0].item() / n, "train_acc": sums[1].item() / n, "rates": rates,
                "epoch_time_s": elapsed, "samples_per_s": sums[2].item() / elapsed if elapsed > 0 else None}

    @torch.no_grad()
    def evaluate(self, dataset: Dataset, batch_size: Optional[int] = None) -> EvalResult:
        """Loss, accuracy, confusion matrix and firing rates of the model (eval mode) on ``dataset``; under DDP each
        rank takes every ``world_size``-th sample and the counts are summed."""
        self.model.eval()
        part = Subset(dataset, list(range(self.ctx.rank, len(dataset), self.ctx.world_size)))
        loader = DataLoader(part, batch_size=batch_size or self.config.train.batch_size, shuffle=False,
                            collate_fn=_collate())
        C = self.num_classes
        sums = torch.zeros(2, device=self.device)  # loss sum, samples
        confusion = torch.zeros(C * C, device=self.device)
        rate_sums = None
        for x, y, lengths in loader:
            x, y, lengths = x.to(self.device), y.to(self.device), lengths.to(self.device)
            self.recorder.clear()
            out = self._forward(x)
            pred = losses.predict(out, self.config.loss.kind, lengths)
            sums += torch.stack([losses.readout_loss(out, y, self.config.loss.kind, lengths, reduction="sum"),
                                 torch.tensor(float(len(y)), device=self.device)])
            confusion += torch.bincount(y * C + pred, minlength=C * C).float()
            rates = losses.firing_rates(list(self.recorder.outputs.values()), lengths)
            batch_rates = torch.stack(rates) * len(y) if rates else torch.zeros(0, device=self.device)
            rate_sums = batch_rates if rate_sums is None else rate_sums + batch_rates
        sums, confusion = distributed.all_sum(self.ctx, sums), distributed.all_sum(self.ctx, confusion)
        n = max(sums[1].item(), 1.0)
        rates = {}
        if rate_sums is not None and rate_sums.numel():
            rate_sums = distributed.all_sum(self.ctx, rate_sums)
            rates = {name: (r / n).item() for name, r in zip(self.recorder.outputs, rate_sums)}
        confusion = confusion.reshape(C, C).long().cpu().numpy()
        return EvalResult(sums[0].item() / n, float(np.trace(confusion)) / n, confusion, rates, int(n))

    # -- the loop ---------------------------------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> list[dict]:
        """Trains for ``config.train.epochs`` (from the last checkpoint when ``resume``); returns the history.

        With a ``run_dir``: holds its lock while training (a :class:`~snn.train.rundir.RunLockError` if another
        process holds it); without ``resume`` a folder that already holds a run's epochs is refused; ``resume`` of a
        run without a completed epoch starts it from scratch (and says so). Ctrl-C or SIGTERM stops at a safe point:
        the run stays resumable from its last completed epoch and ``self.interrupted`` is set.
        """
        with contextlib.ExitStack() as stack:
            stack.enter_context(signals.stop_on_signals())
            resume = distributed.on_main(self.ctx, lambda: self._claim_run_dir(stack, resume))
            if resume:
                self._resume()
            try:
                self._loop()
            except KeyboardInterrupt as e:
                self.interrupted, self.stop_signal = True, signals.signal_of(e)
                if self.ctx.is_main:
                    where = f"; resume with: snn train --resume {self.run_dir}" if self.run_dir else ""
                    print(f"\ninterrupted ({signals.Interrupted(self.stop_signal)}) during epoch {self.epoch + 1}: "
                          f"the run keeps {self.epoch} completed epoch(s){where}", flush=True)
            if self.ctx.is_main and self.run_dir is not None and self.history:
                from .plots import plot_curves

                with signals.writing():
                    plot_curves(self.history, self.run_dir / "curves.png")
        return self.history

    def _loop(self) -> None:
        while self.epoch < self.config.train.epochs and not self._should_stop():
            record = {"epoch": self.epoch + 1, **self._train_epoch()}
            if self.val_set is not None:
                val = self.evaluate(self.val_set)
                record.update(val_loss=val.loss, val_acc=val.accuracy)
            record["lr"] = [g["lr"] for g in self.optimizer.param_groups]
            improved = not self.best or record[self.monitor] > self.best[self.monitor]
            # on every rank (DDP keeps the weights equal), so that no rank waits for one that stopped
            checkpoint.check_finite(self.model.state_dict(), f"training diverged in epoch {self.epoch + 1} (not "
                                    f"checkpointed; the run keeps epoch {self.epoch})")
            with signals.writing():  # epoch, history, best and the files change together or not at all
                self.epoch += 1
                self.history.append(record)
                if improved:
                    self.best = dict(record)
                self._save(improved)
            self._report(record, improved)
            for cb in self.callbacks:
                if hasattr(cb, "on_epoch_end"):
                    cb.on_epoch_end(self, record)

    def _claim_run_dir(self, stack: contextlib.ExitStack, resume: bool) -> bool:
        """On rank 0: locks the run folder and prepares it; returns whether to resume from ``last.pt``."""
        if self.run_dir is None:
            if resume:
                raise ValueError("Trainer: resume needs a run_dir")
            return False
        stack.enter_context(rundir.hold(self.run_dir))
        last = self._ckpt_dir() / checkpoint.LAST
        if resume and last.is_file():
            return True
        if resume:
            if not (self.run_dir / "config.yaml").is_file():
                raise ValueError(f"resume: {self.run_dir} is not a run folder (no config.yaml, no "
                                 f"checkpoints/{checkpoint.LAST})")
            print(f"run {self.run_dir} has no completed epoch (no checkpoints/{checkpoint.LAST}: it stopped during "
                  f"epoch 1): starting it from scratch", flush=True)
        else:
            rundir.check_unused(self.run_dir)
        with signals.writing():
            for stale in (self._ckpt_dir() / checkpoint.BEST, self._ckpt_dir() / checkpoint.LAST,
                          self.run_dir / "log.jsonl"):
                stale.unlink(missing_ok=True)
            with _io.atomic_path(self.run_dir / "config.yaml") as tmp:
                tmp.write_text(dump(self.config))
        return False

    def _resume(self) -> None:
        """Loads ``last.pt`` (every rank); on rank 0 repairs ``best.pt`` and rebuilds the log from the history."""
        self.load_state(checkpoint.load(self._ckpt_dir() / checkpoint.LAST, map_location=self.device))
        epochs = self.config.train.epochs
        if self.epoch > epochs:
            raise ValueError(f"train.epochs = {epochs} is fewer than the {self.epoch} epochs {self.run_dir} already "
                             f"completed; set train.epochs (snn train --resume RUN --epochs N) to at least "
                             f"{self.epoch}")
        if self.ctx.is_main:
            repaired = checkpoint.repair_best(self._ckpt_dir(), {"epoch": self.epoch, "best": self.best})
            if repaired:
                print(repaired, flush=True)
            self._rewrite_log()
            left = epochs - self.epoch
            print(f"resuming {self.run_dir} after epoch {self.epoch}: "
                  + (f"{left} more epoch(s) to {epochs}" if left else f"all {epochs} epochs are done, none to train"),
                  flush=True)

    def _should_stop(self) -> bool:
        patience = self.config.train.patience
        if patience is None or not self.best:
            return False
        return self.epoch - self.best["epoch"] >= patience

    # -- state, checkpoints, logs -----------------------------------------------------------------------------------

    def _ckpt_dir(self) -> Path:
        if self.run_dir is None:
            raise ValueError("Trainer: resume needs a run_dir")
        return self.run_dir / "checkpoints"

    def state(self) -> dict:
        """Everything a checkpoint holds (see :mod:`snn.train.checkpoint`)."""
        return {"config": self.config.to_dict(), "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": checkpoint.rng_state(), "epoch": self.epoch,
                "history": self.history, "best": self.best}

    def load_state(self, ckpt: dict) -> None:
        """Restores a :meth:`state` (model, optimiser, scheduler, scaler, RNGs, epoch, history)."""
        if list(ckpt["input_shape"]) != list(self.input_shape) or ckpt["num_classes"] != self.num_classes:
            raise ValueError(f"checkpoint: trained on inputs {tuple(ckpt['input_shape'])} with "
                             f"{ckpt['num_classes']} classes, but the data gives {self.input_shape} with "
                             f"{self.num_classes}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        checkpoint.set_rng_state(ckpt["rng"])
        self.epoch, self.history, self.best = ckpt["epoch"], list(ckpt["history"]), dict(ckpt["best"])

    def _save(self, improved: bool) -> None:
        if not self.ctx.is_main or self.run_dir is None:
            return
        state = self.state()
        # last.pt first: it records the best epoch, so a stop between the two writes is repaired from it (resume)
        checkpoint.save(self._ckpt_dir() / checkpoint.LAST, state)
        if improved:
            checkpoint.save(self._ckpt_dir() / checkpoint.BEST, state)
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(self.history[-1]) + "\n")

    def _rewrite_log(self) -> None:
        """On resume the log is rebuilt from the checkpoint's history (drops a line of an epoch not checkpointed)."""
        if self.run_dir is None:
            return
        with _io.atomic_path(self.run_dir / "log.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.history))

    def _report(self, record: dict, improved: bool) -> None:
        if not self.ctx.is_main:
            return
        val = f"  val loss {record['val_loss']:.4f} acc {record['val_acc']:.3f}" if "val_acc" in record else ""
        rates = " ".join(f"{k}:{v:.3f}" for k, v in record["rates"].items())
        line = (f"epoch {record['epoch']:>3}/{self.config.train.epochs}  train loss {record['train_loss']:.4f} "
                f"acc {record['train_acc']:.3f}{val}  rates {rates}  {record['epoch_time_s']:.1f} s "
                f"({record['samples_per_s']:.0f} samples/s){'  *' if improved else ''}")
        _progress.write(line)
        self._tensorboard(record)

    def _tensorboard(self, record: dict) -> None:
        if not self.config.train.tensorboard or self.run_dir is None:
            return
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                _progress.write("train.tensorboard: the tensorboard package is not installed; skipping TensorBoard "
                                "logs")
                self._tb = False
            else:
                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        if self._tb is False:
            return
        for key, value in record.items():
            if isinstance(value, (int, float)) and key != "epoch":
                self._tb.add_scalar(key, value, record["epoch"])
        for name, rate in record["rates"].items():
            self._tb.add_scalar(f"rate/{name}", rate, record["epoch"])
        self._tb.flush()

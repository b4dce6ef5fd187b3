"""The energy report of one or more :class:`~snn.energy.profile.Profile`: ``metrics.json`` (canonical, versioned,
NeuroBench key names), ``layers.csv``, ``report.md`` and ``report.html`` (one self-contained file, figures embedded
as base64 PNG). The first profile is shown in detail; every profile gets a summary row."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .profile import Profile

SCHEMA = "spikeforge.energy-report/1"
FIGURE_DIR = "figures"
GENERAL_WARNINGS = [
    "Every energy figure is an estimate from published per-operation constants (tag `estimated`): none was measured "
    "on the target hardware.",
    "Known critiques: memory access can dominate and most targets ignore it (Dampfhoffer et al. 2023; Lemaire et al. "
    "2022 add addressing and SRAM terms); a T-step SNN should also be compared with a log2(T+1)-bit quantised ANN, "
    "not only FP32 (Yan et al. 2024).",
]


# --- numbers -------------------------------------------------------------------------------------------------------

def _rates(c) -> np.ndarray | None:
    """Per-neuron firing rates (spikes per neuron per step) of a spiking layer."""
    if c.spikes_per_neuron is None:
        return None
    return c.spikes_per_neuron / max(c.sample_steps, 1)


def layer_rows(p: Profile) -> list[dict]:
    """One dict per layer: shapes, parameters, activity, operations and energy per target (per inference)."""
    n = max(p.counts.samples, 1)
    totals = {e.target.name: e.low for e in p.estimates}
    rows = []
    for c in p.counts.layers:
        r = _rates(c)
        row = {"layer": c.name, "type": c.type, "counted": c.kind != "not counted", "kind": c.kind,
               "input_shape": "x".join(map(str, c.input_shape)), "output_shape": "x".join(map(str, c.output_shape)),
               "params": c.params, "footprint_bytes": c.footprint, "fan_in": round(c.fan_in, 3),
               "neurons": c.neurons, "input_rate": c.nonzero_inputs / c.inputs if c.inputs else None,
               "firing_rate_mean": None if r is None else float(r.mean()),
               "firing_rate_p5": None if r is None else float(np.percentile(r, 5)),
               "firing_rate_p50": None if r is None else float(np.percentile(r, 50)),
               "firing_rate_p95": None if r is None else float(np.percentile(r, 95)),
               "never_fired": None if r is None else float((c.spikes_per_neuron == 0).mean()),
               "fired_every_step": None if r is None else float((r >= 1).mean()),
               "spikes": None if c.spikes_per_step is None else float(c.spikes_per_step.sum()) / n,
               "Dense": c.dense / n, "Effective_MACs": c.macs / n, "Effective_ACs": c.acs / n,
               "MembraneUpdates": c.updates / n, "active_updates": c.active_updates / n,
               "state_updates": c.state_updates / n}
        for e in p.estimates:
            row[f"energy_J[{e.target.name}]"] = e.per_layer[c.name]
            row[f"share[{e.target.name}]"] = e.per_layer[c.name] / totals[e.target.name] if totals[e.target.name] else 0
        rows.append(row)
    return rows


def summary(p: Profile) -> dict:
    """The summary of one profile: NeuroBench metrics, activity, accuracy."""
    c = p.counts
    spiking = [la for la in c.layers if la.spikes_per_neuron is not None]
    spikes = sum(float(la.spikes_per_neuron.sum()) for la in spiking)
    neuron_steps = sum(la.neurons * la.sample_steps for la in spiking)
    return {"label": p.label, "accuracy": p.accuracy, **c.neurobench(),
            "ParameterCount": sum(la.params for la in c.layers),
            "mean_firing_rate": spikes / neuron_steps if neuron_steps else None,
            "spikes_per_sample": spikes / max(c.samples, 1),
            "active_updates_per_sample": c.per_sample("active_updates"),
            "state_updates_per_sample": c.per_sample("state_updates")}


def metrics_json(profiles: list[Profile]) -> dict:
    """The canonical report data (schema :data:`SCHEMA`)."""
    return {"schema": SCHEMA, "models": [
        {"summary": summary(p), "provenance": p.provenance, "energy": [e.to_json() for e in p.estimates],
         "measured": p.measured, "warnings": p.counts.warnings + _target_warnings(p), "layers": layer_rows(p),
         "per_step": per_step(p)} for p in profiles], "general_warnings": GENERAL_WARNINGS}


def per_step(p: Profile) -> dict:
    """layer -> {"spikes": [...], "effective_ops": [...]} per time step, mean per sample."""
    n = max(p.counts.samples, 1)
    out = {}
    for c in p.counts.layers:
        entry = {key: (arr / n).tolist() for key, arr in (("spikes", c.spikes_per_step),
                                                           ("effective_ops", c.ops_per_step)) if arr is not None}
        if entry:
            out[c.name] = entry
    return out


def _target_warnings(p: Profile) -> list[str]:
    no_memory = [e.target.name for e in p.estimates if not e.target.memory_modelled]
    out = [f"memory access not modelled by target{'s' * (len(no_memory) > 1)} {', '.join(no_memory)}"] \
        if no_memory else []
    for e in p.estimates:
        t = e.target
        if t.minimum:
            out.append(f"target {t.name!r}: " + next((c for c in t.caveats if "minimum" in c),
                                                      "its constants are published minimums: a lower bound"))
    return out


# --- figures ---------------------------------------------------------------------------------------------------------

def fmt_joules(j: float | None) -> str:
    if j is None:
        return "-"
    for unit, scale in (("J", 1), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(j) >= scale:
            return f"{j / scale:.3g} {unit}"
    return f"{j / 1e-12:.3g} pJ"


def figures(profiles: list[Profile]) -> dict[str, tuple[str, bytes]]:
    """name -> (caption, PNG bytes), the most useful first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = profiles[0]
    layers = p.counts.layers
    out: dict[str, tuple[str, bytes]] = {}

    def save(name, caption, fig):
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        out[name] = (caption, buf.getvalue())

    # energy per target
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [e.target.name for e in p.estimates]
    lows = np.array([max(e.low, 1e-30) for e in p.estimates])
    ups = np.array([0.0 if e.target.minimum else e.high - e.low for e in p.estimates])
    colors = ["#999999" if e.target.baseline else "#1f77b4" for e in p.estimates]
    y = np.arange(len(names))
    ax.barh(y, lows, color=colors, xerr=[np.zeros_like(ups), ups], capsize=3)
    for i, e in enumerate(p.estimates):
        label = ("\u2265 " if e.target.minimum else "") + fmt_joules(e.low) + (
            f" - {fmt_joules(e.high)}" if e.high > e.low and not e.target.minimum else "")
        ax.text(e.high if not e.target.minimum else e.low, i, "  " + label + (" (lower bound)" if e.target.minimum
                                                                              else ""), va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xscale("log")
    ax.set_xlim(lows.min() / 3, (lows + ups).max() * 300)
    ax.invert_yaxis()
    ax.set_xlabel("energy per inference (J, log scale; estimated)")
    ax.set_title("Energy per inference by target (grey: equivalent ANN baselines)")
    save("energy_per_target", "Energy per inference per target beside the ANN baselines (log scale; error bars: "
         "ranges; lower bounds marked)", fig)

    # firing rate per layer with the per-neuron spread
    spiking = [c for c in layers if c.spikes_per_neuron is not None]
    if spiking:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        rates = [_rates(c) for c in spiking]
        ax.bar(range(len(spiking)), [r.mean() for r in rates], color="#aec7e8", label="layer mean")
        ax.boxplot(rates, positions=range(len(spiking)), widths=0.4, showfliers=True)
        ax.set_xticks(range(len(spiking)), [f"{c.name}\n({c.neurons})" for c in spiking])
        ax.set_ylabel("spikes per neuron per step")
        ax.set_title("Firing rate per layer (bar: mean; box: spread over neurons)")
        ax.legend(loc="upper right")
        save("firing_rates", "Firing rate per layer: mean (bar) and the spread of per-neuron rates (box)", fig)

        fig, ax = plt.subplots(figsize=(8, 3.5))
        for c in spiking:
            ax.plot(np.arange(len(c.spikes_per_step)), c.spikes_per_step / max(c.samples, 1), label=c.name)
        ax.set_xlabel("time step")
        ax.set_ylabel("spikes per sample")
        ax.set_title("Spikes per time step per layer")
        ax.legend()
        save("spikes_per_step", "Spikes per time step per layer (mean over samples)", fig)

    syn = [c for c in layers if c.dense]
    if syn:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        n = max(p.counts.samples, 1)
        x = np.arange(len(syn))
        for k, (key, label) in enumerate((("dense", "Dense"), ("macs", "Effective MACs"), ("acs", "Effective ACs"))):
            ax.bar(x + (k - 1) * 0.27, [max(getattr(c, key) / n, 0.5) for c in syn], 0.27, label=label)
        ax.set_xticks(x, [f"{c.name}\n{c.type}" for c in syn])
        ax.set_yscale("log")
        ax.set_ylabel("operations per inference")
        ax.set_title("Synaptic operations per layer (log scale; zero drawn at 0.5)")
        ax.legend()
        save("operations", "Dense vs effective MACs vs effective ACs per layer (log scale)", fig)

    if p.raster:
        fig, ax = plt.subplots(figsize=(8, 4))
        offset = 0
        for name, spikes in p.raster.items():
            t, nrn = np.nonzero(spikes)
            ax.scatter(t, nrn + offset, s=2, label=name)
            offset += spikes.shape[1]
            ax.axhline(offset - 0.5, color="#cccccc", lw=0.5)
        ax.set_xlabel("time step")
        ax.set_ylabel("neuron (layers stacked)")
        ax.set_title("Spike raster of one sample")
        ax.legend(loc="upper right", markerscale=4)
        save("raster", "Spike raster of the first sample (spiking layers stacked)", fig)

    pts = [(q, next((e for e in q.estimates if not e.target.baseline), None)) for q in profiles]
    pts = [(q, e) for q, e in pts if q.accuracy is not None and e is not None]
    if len(pts) > 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        for q, e in pts:
            ax.scatter(e.low, 100 * q.accuracy)
            ax.annotate(q.label, (e.low, 100 * q.accuracy), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"energy per inference, {pts[0][1].target.name} (J)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title("Accuracy against energy")
        save("accuracy_vs_energy", "Accuracy against estimated energy, one point per model", fig)
    return out


# --- writers ---------------------------------------------------------------------------------------------------------

def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _summary_table(profiles: list[Profile]) -> tuple[list[str], list[list[str]]]:
    head = ["model", "accuracy", "Footprint (B)", "params", "ConnectionSparsity", "ActivationSparsity",
            "mean firing rate", "Dense", "Effective_MACs", "Effective_ACs", "MembraneUpdates", "spikes"]
    rows = []
    for p in profiles:
        s = summary(p)
        syn = s["SynapticOperations"]
        rows.append([p.label, "-" if s["accuracy"] is None else f"{100 * s['accuracy']:.2f}%", _cell(s["Footprint"]),
                     _cell(s["ParameterCount"]), _cell(s["ConnectionSparsity"]), _cell(s["ActivationSparsity"]),
                     _cell(s["mean_firing_rate"]), _cell(syn["Dense"]), _cell(syn["Effective_MACs"]),
                     _cell(syn["Effective_ACs"]), _cell(s["MembraneUpdates"]), _cell(s["spikes_per_sample"])])
    return head, rows


def _energy_table(p: Profile) -> tuple[list[str], list[list[str]]]:
    head = ["target", "energy per inference", "tag", "formula", "constants (pJ)", "source"]
    rows = []
    for e in p.estimates:
        t = e.target
        value = ("\u2265 " + fmt_joules(e.low)) if t.minimum else fmt_joules(e.low) + (
            f" - {fmt_joules(e.high)}" if e.high > e.low else "")
        consts = ", ".join(f"{k} {a:g}" + (f"-{b:g}" if b > a else "") for k, (a, b) in t.constants.items())
        rows.append([t.name + (" (baseline)" if t.baseline else ""), value, "estimated", t.formula, consts, t.source])
    m = p.measured
    rows.append(["this machine: wall time", f"{1e3 * m['wall_time_s']['value']:.3g} ms", "measured",
                 m["wall_time_s"]["instrument"], "-", m["wall_time_s"]["device"]])
    en = m["energy_J"]
    rows.append(["this machine: energy", fmt_joules(en["value"]) if en["value"] is not None else "not measured",
                 en["tag"], en.get("instrument", en.get("reason", "")), "-", "-"])
    return head, rows


TOP_LAYER_KEYS = ["layer", "type", "output_shape", "params", "input_rate", "firing_rate_mean", "never_fired", "Dense",
                  "Effective_MACs", "Effective_ACs", "MembraneUpdates"]


def _md_table(head, rows) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    return "\n".join(["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)] +
                     ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def _warnings(p: Profile) -> list[str]:
    return p.counts.warnings + _target_warnings(p) + GENERAL_WARNINGS


def _provenance_rows(p: Profile) -> list[list[str]]:
    return [[k, json.dumps(v) if isinstance(v, (dict, list)) else str(v)] for k, v in p.provenance.items()]


def write_md(profiles: list[Profile], figs: dict, path: Path) -> None:
    p = profiles[0]
    rows = layer_rows(p)
    parts = [f"# Energy report: {p.label}", "", "## Summary", "", _md_table(*_summary_table(profiles)), "",
             "## Energy per inference", "", _md_table(*_energy_table(p)), "",
             "## Layers", "", _md_table(TOP_LAYER_KEYS, [[_cell(r[k]) for k in TOP_LAYER_KEYS] for r in rows]), "",
             "## Warnings", ""] + [f"- {w}" for w in _warnings(p)] + ["", "## Figures", ""]
    parts += [f"![{cap}]({FIGURE_DIR}/{name}.png)" for name, (cap, _) in figs.items()]
    parts += ["", "## Provenance", "", _md_table(["field", "value"], _provenance_rows(p)), ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))


def _html_table(head, rows) -> str:
    e = html.escape
    return ("<table><thead><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr></thead><tbody>" +
            "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows) +
            "</tbody></table>")


CSS = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;display:block;overflow-x:auto;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#f3f3f3}
figure{margin:1.5em 0}figcaption{font-size:13px;color:#555}.warn li{color:#8a4b00}code{background:#f3f3f3}"""


def write_html(profiles: list[Profile], figs: dict, path: Path) -> None:
    p = profiles[0]
    rows = layer_rows(p)
    e = html.escape
    body = [f"<h1>Energy report: {e(p.label)}</h1>",
            "<p>Counts are hardware independent (NeuroBench definitions); energies are <b>estimated</b> from "
            "published constants, each with its source; only wall time (and RAPL energy where readable) is "
            "<b>measured</b>.</p>",
            "<h2>Summary</h2>", _html_table(*_summary_table(profiles)),
            "<h2>Energy per inference</h2>", _html_table(*_energy_table(p)),
            "<h2>Warnings</h2><ul class='warn'>" + "".join(f"<li>{e(w)}</li>" for w in _warnings(p)) + "</ul>",
            "<h2>Figures</h2>"]
    for name, (cap, png) in figs.items():
        b64 = base64.b64encode(png).decode()
        body.append(f"<figure id='fig-{name}'><img alt='{e(cap)}' src='data:image/png;base64,{b64}'>"
                    f"<figcaption>{e(cap)}</figcaption></figure>")
    body += ["<h2>Layers</h2>", _html_table(TOP_LAYER_KEYS, [[_cell(r[k]) for k in TOP_LAYER_KEYS] for r in rows]),
             "<p>All columns: <code>layers.csv</code>; every number: <code>metrics.json</code>.</p>",
             "<h2>Caveats per target</h2><ul>" + "".join(
                 f"<li><b>{e(t.target.name)}</b>: {e('; '.join(t.target.caveats) or 'none')}</li>"
                 for t in p.estimates) + "</ul>",
             "<h2>Provenance</h2>", _html_table(["field", "value"], _provenance_rows(p))]
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Energy report: {e(p.label)}</title>"
           f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")
    with atomic_path(path) as tmp:
        tmp.write_text(doc)


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    raise TypeError(f"metrics.json: cannot serialise {type(v).__name__}")


def _finite(v):
    """JSON has no NaN or infinity: such a value is an error in the counts, not something to write."""
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"metrics.json: non-finite value {v}")
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def write(profiles: list[Profile], out: str | Path) -> Path:
    """Writes report.html, report.md, metrics.json, layers.csv and figures/*.png into ``out``; returns the path of
    report.html."""
    if not profiles:
        raise ValueError("energy report: expected at least one profile")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"snn profile: --out {out} is a file; expected a directory")
    (out / FIGURE_DIR).mkdir(parents=True, exist_ok=True)
    figs = figures(profiles)
    for name, (_, png) in figs.items():
        with atomic_path(out / FIGURE_DIR / f"{name}.png") as tmp:
            tmp.write_bytes(png)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(_finite(metrics_json(profiles)), indent=1, default=_json_default))
    rows = layer_rows(profiles[0])
    with atomic_path(out / "layers.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_md(profiles, figs, out / "report.md")
    write_html(profiles, figs, out / "report.html")
    return out / "report.html"

"""The RAPL meter on a stand-in counter file (this machine exposes no RAPL: the report must say so)."""

import pytest

from snn.energy.measure import Meter, rapl_status


def test_rapl_energy_with_idle_power_subtracted(tmp_path):
    counter = tmp_path / "powercap" / "intel-rapl:0" / "energy_uj"
    counter.parent.mkdir(parents=True)
    counter.write_text("1000000\n")  # constant while the meter measures idle power: 0 W idle
    meter = Meter(counter)
    assert meter.rapl and meter.idle_w == 0

    def work():
        counter.write_text("4000000\n")  # 3 J used during the call
        return "done"

    assert meter.measure(work) == "done"
    res = meter.result(samples=6, device="cpu")
    assert res["energy_J"]["tag"] == "measured" and res["energy_J"]["value"] == pytest.approx(0.5)
    assert res["wall_time_s"]["value"] > 0


def test_missing_rapl_is_reported_with_the_reason(tmp_path):
    ok, reason = rapl_status(tmp_path / "none" / "intel-rapl:0" / "energy_uj")
    assert not ok and "RAPL is not exposed here" in reason
    res = Meter(tmp_path / "none" / "intel-rapl:0" / "energy_uj").result(samples=1, device="cpu")
    assert res["energy_J"]["value"] is None and "RAPL is not exposed" in res["energy_J"]["reason"]

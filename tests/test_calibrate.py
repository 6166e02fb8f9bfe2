"""``dirft calibrate``: the least-squares fit, and a real (small) measurement of this machine."""

import pytest

from dirft.errors import ConfigError
from dirft.calibrate import (Measurement, fit_cost_model, solve_least_squares,
                                 solve_non_negative)
from dirft.sim.costmodel import MIB, CostModel, load_cost_model
from e2e import run_cli


def test_least_squares_recovers_an_exact_line():
    rows = [[1.0, x] for x in (1.0, 2.0, 4.0)]
    assert solve_least_squares(rows, [3 + 2 * x for _, x in rows]) == pytest.approx([3.0, 2.0])
    with pytest.raises(ConfigError, match="--sizes"):
        solve_least_squares([[1.0, 1.0], [2.0, 2.0]], [1.0, 2.0])


def test_a_negative_coefficient_is_fixed_at_zero_and_the_rest_refitted():
    rows = [[1.0, x] for x in (1.0, 2.0, 3.0)]
    targets = [2 * x - 1 for _, x in rows]  # free fit: intercept -1, slope 2
    intercept, slope = solve_non_negative(rows, targets)
    assert intercept == 0.0
    assert slope == pytest.approx(sum(x * t for (_, x), t in zip(rows, targets)) / 14)


def test_the_fit_recovers_a_known_cost_model():
    truth = CostModel(0.5, 0.02, 0.1, 0.0, 0.01, 0.05)
    runs = [Measurement("none", 1, s * MIB, 1, float(s), 0.5 + 0.1 + 0.02 * s, 0.2 + 0.01 * s)
            for s in (1, 4, 16, 32)]
    runs.append(Measurement("dirft", 2, MIB, 2, 2 / 3, 0.5 + 0.2 + 0.02 * 2 / 3, 0.0))
    assert fit_cost_model(runs, 0.05).to_dict() == pytest.approx(truth.to_dict(), abs=1e-5)


def test_dirft_calibrate_measures_this_machine_and_writes_yaml(tmp_path, capsys):
    out = tmp_path / "here.yaml"
    code, stdout, err = run_cli(capsys, "calibrate", "--sizes", "256KiB,2MiB", "--repeats",
                                "1", "--out", out, "--work-dir", tmp_path)
    assert code == 0, err
    model = load_cost_model(str(out))
    assert model.network_penalty_s_per_mib == 0.0 and model.poll_interval_s > 0
    assert model.startup_s + model.phase_overhead_s > 0  # a run costs something
    assert "none nature 1 over 2.0 MiB" in stdout and out.read_text().startswith("# ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here.yaml"]  # scratch removed


def test_dirft_calibrate_needs_two_sizes(capsys):
    code, _, err = run_cli(capsys, "calibrate", "--sizes", "1MiB")
    assert code == 1 and "two different" in err

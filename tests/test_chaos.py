"""A small seeded sample of the chaos check (``dirft chaos --runs 200`` runs the big one)."""

import pytest

from dirft.chaos import ChaosRun, Tally, draw_run, run_chaos
from dirft.cli import main
from dirft.errors import JobAborted


def test_chaos_sample_has_no_wrong_output_and_no_leftovers(tmp_path):
    tally = run_chaos(8, seed=2026, workdir=str(tmp_path / "chaos"))
    assert tally.runs == 8
    assert (tally.wrong, tally.spurious, tally.leftovers, tally.errors) == (0, 0, 0, 0), \
        tally.problems
    assert tally.ok + tally.aborts == 8
    assert not (tmp_path / "chaos").exists()  # the check removed its scratch


def test_an_abort_within_tolerance_is_a_failure(tmp_path, monkeypatch):
    import dirft.chaos as chaos

    def abort(*_args):
        raise JobAborted("task 0 sub-split 0: no quorum")
    monkeypatch.setattr(chaos, "_job", abort)
    tally = Tally()
    for beyond in (False, True):
        run = ChaosRun(int(beyond), ("dirft.scheme=dirft",), 0, beyond)
        chaos._judge(run, None, {}, tmp_path / f"run-{beyond}", tally)
    assert (tally.spurious, tally.aborts) == (1, 1) and tally.failed
    assert "SPURIOUS ABORT" in tally.problems[0]


@pytest.mark.parametrize("runs", [0, -3])
def test_chaos_refuses_a_run_count_below_one(runs, tmp_path, capsys):
    assert main(["chaos", "--runs", str(runs), "--workdir", str(tmp_path / "w")]) == 2
    assert "--runs must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_chaos_schedules_are_seeded_and_varied():
    runs = [draw_run(i, seed=5) for i in range(60)]
    assert runs == [draw_run(i, seed=5) for i in range(60)]
    settings = " ".join(d for r in runs for d in r.defines)
    for word in ("scheme=se", "scheme=bft", "mode=kill", "mode=node", "mode=hang",
                 "mode=data", "replicas.per.task", "straggler"):
        assert word in settings

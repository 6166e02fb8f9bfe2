"""A small seeded sample of the chaos check (``dirft chaos --runs 200`` runs the big one)."""

from dirft.chaos import draw_run, run_chaos


def test_chaos_sample_has_no_wrong_output_and_no_leftovers(tmp_path):
    tally = run_chaos(8, seed=2026, workdir=str(tmp_path / "chaos"))
    assert tally.runs == 8
    assert (tally.wrong, tally.leftovers, tally.errors) == (0, 0, 0), tally.problems
    assert tally.ok + tally.aborts == 8


def test_chaos_schedules_are_seeded_and_varied():
    runs = [draw_run(i, seed=5) for i in range(60)]
    assert runs == [draw_run(i, seed=5) for i in range(60)]
    settings = " ".join(d for r in runs for d in r.defines)
    for word in ("scheme=se", "scheme=bft", "mode=kill", "mode=node", "mode=hang",
                 "mode=data", "replicas.per.task", "straggler"):
        assert word in settings

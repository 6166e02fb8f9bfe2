"""The DIRFT paper's measured streamSort makespans, drawn beside the simulated curves.

Ganguly et al., IEEE CLOUD 2017 (docs/design.md, 'Numbers to beat'): the grid (schemes compared per
fault nature, split counts, percentages of map tasks hit) and the authors' makespans in
seconds, fault-free and with faults. :mod:`dirft.gridmix.results` draws these points on the
figures; ``bench/sim_grid.py`` and ``bench/fit_paper_cluster.py`` compare against them.
"""

#: The paper's grid (docs/design.md): schemes compared per fault nature (1 crash,
#: 2 silent), input split counts, and percentages of map tasks hit by faults.
PAPER_SCHEMES = {1: ("se", "frft", "dirft"), 2: ("bft", "frft", "dirft")}
PAPER_SPLITS = (100, 300, 500)
PAPER_PERCENTS = tuple(12.5 * i for i in range(9))
#: The authors' fault-free streamSort makespans in seconds (docs/design.md, 'Numbers to beat'), by
#: (nature, scheme, splits).
PAPER_SECONDS = {(1, "se", 100): 110, (1, "se", 300): 270, (1, "se", 500): 410,
                 (1, "frft", 100): 110, (1, "frft", 300): 270, (1, "frft", 500): 420,
                 (1, "dirft", 100): 70, (1, "dirft", 300): 160, (1, "dirft", 500): 240,
                 (2, "bft", 500): 430, (2, "frft", 500): 440, (2, "dirft", 500): 310}
#: The authors' streamSort makespans with faults (docs/design.md: 500 splits, 6% and 100% of
#: the tasks hit), by (nature, scheme, splits, percent of tasks hit), in seconds.
PAPER_FAULT_SECONDS = {
    (1, "se", 500, 6): 440, (1, "se", 500, 100): 790,
    (1, "frft", 500, 6): 420, (1, "frft", 500, 100): 420,
    (1, "dirft", 500, 6): 250, (1, "dirft", 500, 100): 440,
    (2, "bft", 500, 6): 450, (2, "bft", 500, 100): 810,
    (2, "frft", 500, 6): 440, (2, "frft", 500, 100): 440,
    (2, "dirft", 500, 6): 320, (2, "dirft", 500, 100): 570}


def paper_points(nature: int, scheme: str, splits: int) -> list[tuple[float, float]]:
    """The authors' (percent of tasks hit, makespan in seconds) points for streamSort."""
    points = [(0.0, v) for (n, s, k), v in PAPER_SECONDS.items() if (n, s, k) == (nature, scheme, splits)]
    points += [(float(p), v) for (n, s, k, p), v in PAPER_FAULT_SECONDS.items()
               if (n, s, k) == (nature, scheme, splits)]
    return sorted(points)

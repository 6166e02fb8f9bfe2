"""One cell of an experiment grid (:class:`Cell`) and the names the grid gives schemes and
fault natures; shared by the spec reader (:mod:`dirft.gridmix.spec`), the simulator's cells
(:mod:`dirft.gridmix.sim_cells`) and the experiment (:mod:`dirft.gridmix.experiment`).
"""

from dataclasses import dataclass

PLAIN = "dirft-plain"  # the paper's plain DIRFT: dirft.scheme=dirft, dirft.adaptive=false
NATURES = {"crash": 1, "silent": 2, "both": 3}


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a job on ``splits`` splits under one scheme, nature (1 crash, 2
    silent, 3 both) and fault percentage; ``repetition`` counts from 1."""

    job: str
    splits: int
    repetition: int
    nature: int
    scheme: str
    fault_percent: float

    def label(self) -> str:
        """A short name for progress bars: ``streamsort dirft crash 25% 8 splits #1``."""
        nature = {v: k for k, v in NATURES.items()}[self.nature]
        return (f"{self.job} {self.scheme} {nature} {self.fault_percent:g}% "
                f"{self.splits} splits #{self.repetition}")

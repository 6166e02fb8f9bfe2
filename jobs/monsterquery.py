"""GridMix2 monsterQuery: three chained GenericMRLoad jobs, each keeping 10% of map records
and 40% of reduce values, each reading the previous one's output.

GridMix2 runs it over FIXCOMPSEQ (keys of 5 words, values of 100;
``dirft gridmix generate --dataset fixkv``). A three-step MRJob: standalone
``python jobs/monsterquery.py -r inline INPUT``; under dirft ``dirft run jobs/monsterquery.py
INPUT -o OUT`` protects the map stage of every step.
"""

from genericmrload import MRGenericLoad


class MRMonsterQuery(MRGenericLoad):
    """monsterQuery: 3 × ``-keepmap 10 -keepred 40``."""

    FILES = ["genericmrload.py"]
    KEEP_MAP = 10.0
    KEEP_RED = 40.0
    CHAINED = 3


if __name__ == "__main__":
    MRMonsterQuery.run()

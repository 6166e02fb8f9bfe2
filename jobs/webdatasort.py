"""GridMix2 webdataSort: GenericMRLoad keeping 100% of map records and of reduce values.

An identity sort of VARCOMPSEQ (key/value data; ``dirft gridmix generate --dataset kv``).
Runs standalone (``python jobs/webdatasort.py -r inline INPUT``) and under dirft
(``dirft run jobs/webdatasort.py INPUT -o OUT``).
"""

from genericmrload import MRGenericLoad


class MRWebdataSort(MRGenericLoad):
    """webdataSort: ``-keepmap 100 -keepred 100``."""

    FILES = ["genericmrload.py"]
    KEEP_MAP = 100.0
    KEEP_RED = 100.0


if __name__ == "__main__":
    MRWebdataSort.run()

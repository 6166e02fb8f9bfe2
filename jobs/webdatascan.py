"""GridMix2 webdataScan: GenericMRLoad keeping 0.2% of map records and 5% of reduce values.

GridMix2 runs it over VARCOMPSEQ (key/value data; ``dirft gridmix generate --dataset kv``
here): a scan that reads everything and writes little. Runs standalone
(``python jobs/webdatascan.py -r inline INPUT``) and under dirft
(``dirft run jobs/webdatascan.py INPUT -o OUT``); ``genericmrload.py`` travels with it
(mrjob's ``FILES``).
"""

from genericmrload import MRGenericLoad


class MRWebdataScan(MRGenericLoad):
    """webdataScan: ``-keepmap 0.2 -keepred 5``."""

    FILES = ["genericmrload.py"]
    KEEP_MAP = 0.2
    KEEP_RED = 5.0


if __name__ == "__main__":
    MRWebdataScan.run()

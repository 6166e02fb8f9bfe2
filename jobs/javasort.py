"""GridMix2 javaSort: identity map and identity reduce over key/value text (mrjob 0.7.4).

GridMix2 runs Hadoop's ``examples.Sort`` over VARCOMPSEQ: the framework's sort does all the
work. Here records are ``key\\tvalue`` text (``dirft gridmix generate --dataset kv``) read and
written with ``RawProtocol`` (split at the first tab, written back unchanged), so the output
is the input's records sorted by key bytes. Standalone: ``python jobs/javasort.py -r inline
INPUT``; under dirft: ``dirft run jobs/javasort.py INPUT -o OUT``.
"""

from mrjob.job import MRJob
from mrjob.protocol import RawProtocol


class MRJavaSort(MRJob):
    """Identity map, identity reduce; records are ``key\\tvalue`` lines."""

    INPUT_PROTOCOL = RawProtocol
    INTERNAL_PROTOCOL = RawProtocol
    OUTPUT_PROTOCOL = RawProtocol

    def mapper(self, key, value):
        """Yield the record unchanged: ``(key, value)`` strs (value None: no tab)."""
        yield key, value

    def reducer(self, key, values):
        """Yield ``(key, value)`` for every value of ``key``, in the order received."""
        for value in values:
            yield key, value


if __name__ == "__main__":
    MRJavaSort.run()

"""GridMix2 combiner: word count with the reducer also used as the combiner (mrjob 0.7.4).

GridMix2's ``CombinerJobCreator`` is Hadoop's WordCount (``StringTokenizer`` words of each
line, key and value alike, counted) with the reduce class set as the combiner too, over
VARINFLTEXT (``dirft gridmix generate --dataset text``). Output lines are ``word\\tcount``
(``TextProtocol``). Standalone: ``python jobs/combiner.py -r inline INPUT``; under dirft:
``dirft run jobs/combiner.py INPUT -o OUT``.
"""

from mrjob.job import MRJob
from mrjob.protocol import TextProtocol


class MRCombiner(MRJob):
    """Count whitespace-separated words; ``sum_counts`` is combiner and reducer."""

    INTERNAL_PROTOCOL = TextProtocol
    OUTPUT_PROTOCOL = TextProtocol

    def mapper(self, _, line):
        """Yield ``(word, "1")`` for every whitespace-separated word of ``line`` (str)."""
        for word in line.split():
            yield word, "1"

    def sum_counts(self, word, counts):
        """Yield ``(word, str(total))``: the sum of ``counts`` (decimal strs)."""
        yield word, str(sum(int(count) for count in counts))

    combiner = sum_counts
    reducer = sum_counts


if __name__ == "__main__":
    MRCombiner.run()

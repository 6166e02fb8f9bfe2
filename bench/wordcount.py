"""Word count as plain Hadoop Streaming programs: the benchmarks' map-heavy job.

``python wordcount.py --mapper`` prints ``word\\t1`` for every whitespace-separated word of
every stdin line (the classic streaming word count, no in-mapper combining, so the map side
does work per word); ``--combiner`` and ``--reducer`` read ``word\\tcount`` lines sorted by
word and print ``word\\t<sum>`` per word. Bytes in, bytes out; no third-party imports, so
the process starts in a few tens of milliseconds. Same output as
``tests/fixtures/mr_wordcount.py`` (the MRJob version), about three times faster.
"""

import itertools
import sys


def map_words(lines, write) -> None:
    """Call ``write(bytes)`` with ``word\\t1\\n`` for each word of each line (bytes)."""
    for line in lines:
        words = line.split()
        if words:
            write(b"\t1\n".join(words) + b"\t1\n")


def sum_counts(lines, write) -> None:
    """Call ``write`` with ``word\\t<total>\\n`` per run of lines with the same word.

    ``lines`` are ``word\\tcount\\n`` bytes sorted by word; raises ValueError on a count
    that is not an integer.
    """
    pairs = (line.rstrip(b"\n").split(b"\t", 1) for line in lines)
    for word, group in itertools.groupby(pairs, key=lambda pair: pair[0]):
        total = sum(int(pair[1]) for pair in group)
        write(word + b"\t" + str(total).encode() + b"\n")


def main(argv: list) -> int:
    """Run the role named by ``argv[1]`` over stdin to stdout; return the exit status."""
    roles = {"--mapper": map_words, "--combiner": sum_counts, "--reducer": sum_counts}
    if len(argv) != 2 or argv[1] not in roles:
        print("usage: wordcount.py --mapper|--combiner|--reducer", file=sys.stderr)
        return 2
    roles[argv[1]](sys.stdin.buffer, sys.stdout.buffer.write)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

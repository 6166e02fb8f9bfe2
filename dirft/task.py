"""Entry point of the replica task runtime: ``python -m dirft.task --spec … --task … --replica …``.

See :mod:`dirft.runtime.replica`.
"""

import sys

from dirft.runtime.replica import main

if __name__ == "__main__":
    sys.exit(main())

"""The type checker passes on the core: ``python -m mypy dirft/core`` under setup.cfg's
``[mypy]`` section (strict: every function annotated, no implicit Any).

The core is the one state machine every runner drives; mypy checks that its fields,
states (:data:`dirft.core.task_state.ReplicaStatus`, a ``Literal``) and actions are used
as declared. Skipped only where mypy is not installed (it is in the test extras).
"""

import importlib.util
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pip install -e '.[test]')")
def test_mypy_passes_on_the_core():
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "setup.cfg",
                           "--cache-dir", "/dev/null", "dirft/core"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"mypy found problems in dirft/core:\n{done.stdout}{done.stderr}"
    assert "Success" in done.stdout

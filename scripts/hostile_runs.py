"""Run the hostile-mapper job (tests/hostile.py) N times; print the totals (issue 22).

``python scripts/hostile_runs.py [N] [BASE]``: N runs (default 50) in fresh directories
under BASE (default a new one in /tmp), as ``nobody`` when run as root. One JSON line per
run on stderr, then: ``over N runs, K keys found, L forged lines, P processes left`` (and
the replicas whose memory the thief could open, the processes killed, failed runs).
"""

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from hostile import hostile_job  # noqa: E402


def main(argv: list) -> int:
    runs = int(argv[0]) if argv else 50
    base = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="dirft-hostile-runs-")
    os.chmod(base, 0o1777)
    totals = {"keys_found": 0, "forged_lines": 0, "processes_left": 0, "mem_opened": 0,
              "targets": 0, "new_targets": 0, "left_image": 0, "processes_killed": 0, "failed_runs": 0}
    for seed in range(runs):
        run = hostile_job(base, seed)
        new = sum(bool(t.get("new")) for t in run["targets"])
        line = {"seed": seed, "code": run["code"], "targets": len(run["targets"]),
                "new_targets": new,
                "mem_opened": run["mem_opened"], "keys_found": run["keys_found"],
                "forged_lines": run["forged_lines"], "processes_left": run["processes_left"],
                "processes_killed": (run["report"].get("security") or {}).get(
                    "processes_killed")}
        print(json.dumps(line), file=sys.stderr, flush=True)
        for key in ("keys_found", "forged_lines", "mem_opened"):
            totals[key] += run[key]
        totals["targets"] += len(run["targets"])
        totals["new_targets"] += new
        totals["left_image"] += run["left_image"]
        totals["processes_left"] += len(run["processes_left"])
        totals["processes_killed"] += line["processes_killed"] or 0
        totals["failed_runs"] += run["code"] != 0
        shutil.rmtree(run["work"], ignore_errors=True)
    print(f"over {runs} runs, {totals['keys_found']} keys found, {totals['forged_lines']} "
          f"forged lines, {totals['processes_left']} processes left; {totals['targets']} "
          f"processes attacked ({totals['new_targets']} started after the thief), "
          f"{totals['left_image']} exec'd their mapper or ended during the attack, "
          f"{totals['mem_opened']} replicas opened or attached, "
          f"{totals['processes_killed']} processes killed, {totals['failed_runs']} failed runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

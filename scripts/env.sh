# Sourced by the scripts here: find Python 3.10/3.11 and make the project's virtualenv.
# mrjob 0.7.4 imports modules that Python 3.12 removed (pipes, distutils), hence <= 3.11.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.10 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 11)))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "dirft: error: needs Python 3.10 or 3.11 (mrjob does not run on 3.12+); set PYTHON=…" >&2
  return 1
}
ensure_venv() {  # $1: pip extras, e.g. "[test]" or ""
  if [ ! -x .venv/bin/python ]; then
    "$(pick_python)" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  # setuptools warns about editable installs on every run; the warning is not for users
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$1"
}

#!/usr/bin/env bash
# The whole test suite: notebooks and library in sync, notebook checks (nbdev_test), pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/env.sh
export PATH="$PWD/.venv/bin:$PATH" OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
snap() { find nbs mixpath_lab -type f -not -path '*/__pycache__/*' -not -path '*/.ipynb_checkpoints/*' | sort | xargs sha1sum; }
echo "[test] 1/3 notebooks and library in sync (nbdev_export + nbdev_clean change nothing)"
before=$(snap)
nbdev_export
nbdev_clean
after=$(snap)
if [ "$before" != "$after" ]; then
  echo "[test] FAIL: nbdev_export / nbdev_clean changed these files; run them and commit the result:" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  exit 1
fi
echo "[test] 2/3 notebook checks (nbdev_test)"
nbdev_test --n_workers 2 --flags "${NBDEV_FLAGS:-}" --timing
echo "[test] 3/3 pytest"
set +e
python -m pytest -q tests "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "[test] FAIL: pytest collected no tests (exit 5); tests/ must hold tests" >&2
  exit 1
fi
exit $rc

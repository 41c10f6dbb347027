# Each target sets up .venv on first use (scripts/env.sh), then reuses it.
.PHONY: env quickstart test test-fast paper bench clean-env
env:
	@scripts/env.sh
quickstart: env
	.venv/bin/mixpath-lab quickstart
test:
	@scripts/test.sh
bench: env
	@for f in bench/bench_*.py; do echo "== $$f"; .venv/bin/python $$f || exit 1; done
clean-env:
	rm -rf .venv

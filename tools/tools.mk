# tools/tools.mk - checks of the tools in tools/ (-included by the Makefile).
#   make check-errors-log   ERRORS_LOG.txt keeps every item of the user's original log
#                           (tests/tools/seed_ERRORS_LOG.txt), and tools/errors_log.py's
#                           unit tests (dates, duplicates, idempotence, Test: lines)
.PHONY: check-errors-log
check-errors-log:
	@echo "== tests/tools: ERRORS_LOG.txt against the seed; tools/errors_log.py"
	@PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s tests/tools -p 'test_errors_log*.py'

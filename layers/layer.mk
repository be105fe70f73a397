# The recipe every layer's Makefile shares (sam build, BuildMethod: makefile): wheels for the Lambda runtime
# (python3.13, arm64), fetched for that platform whatever machine builds it, so no Docker is needed.
# A layer's Makefile includes this file by its own path (sam build runs make on a copy of the layer's folder,
# with --makefile naming the original), then writes its target as
#     build-<LogicalId>:
#     	$(install-locked)
#     	(anything of its own, e.g. cp -R covers_core "$(LAYER)/")
#     	$(call finish-layer,<LogicalId>,<paths under python/ to leave out>)
#
# Reproducible: requirements.lock (written by `make lock`, layers/lock.py) pins every package with the sha256
# of its wheel (--require-hashes refuses any other file and any unpinned dependency), and the same lock gives
# the same bytes on any machine. Console scripts (bin/) are dropped: pip writes the builder's interpreter path
# into them (and their hashes into RECORD), and a layer has no use for them. File times (1980-01-01 UTC, the
# zip epoch) and modes are normalised too, for tools that zip with them. Portable to BSD/macOS tools: sed -i
# with an attached suffix, touch -t.
#
# Cold start: a layer is read-only in Lambda, so Python cannot cache the bytecode it compiles at import; the
# layer ships it, compiled by a python3.13 (the runtime's version; bytecode of any other version would be
# ignored). Found on PATH or under pyenv (PYTHON313=... to choose one); without one the build says so and
# ships no bytecode. `--invalidation-mode unchecked-hash` keeps the .pyc files free of file times
# (reproducible) and skips the source check at import; `-d /opt/python` records the path the layer has in
# Lambda instead of the builder's.
PYTHON ?= python3
LAYER = $(ARTIFACTS_DIR)/python
PYTHON313 ?= $(shell for p in python3.13 $(HOME)/.pyenv/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { command -v "$$p"; break; }; done)

define install-locked
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock \
		--target "$(LAYER)" --platform manylinux2014_aarch64 --implementation cp \
		--python-version 3.13 --only-binary=:all: --no-compile
endef

# $(1): the layer's logical id (for messages); $(2): paths under python/ that no function imports.
define finish-layer
	find "$(LAYER)" -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf "$(LAYER)/bin" $(addprefix "$(LAYER)"/,$(2))
	find "$(LAYER)" -path '*.dist-info/RECORD' -exec sed -i.orig -e '/^\.\.\/\.\.\/bin\//d' {} +
	find "$(LAYER)" -name RECORD.orig -delete
	@if [ -n "$(PYTHON313)" ]; then \
		echo "$(1): bytecode compiled by $(PYTHON313)"; \
		PYTHONHASHSEED=0 "$(PYTHON313)" -m compileall -q -j 1 --invalidation-mode unchecked-hash \
			-d /opt/python "$(LAYER)" >/dev/null; \
	else \
		echo "$(1): no python3.13 found: the layer ships no bytecode (slower cold starts)" >&2; \
	fi
	chmod -R u=rwX,go=rX "$(LAYER)"
	find "$(LAYER)" -exec env TZ=UTC touch -h -t 198001010000.00 {} +
endef

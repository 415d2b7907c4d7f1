# Two commands on a fresh machine:
#   make demo   - install what is needed, build, run the demo on the local emulator
#   make test   - install what is needed, build, run every test (C and Python)

PYTHON ?= python3
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: demo test deps build test-c test-py asan bench clean packages docs

deps:
	bash scripts/install-deps.sh

build: deps
	$(PYTHON) -m pip install --no-build-isolation --no-deps -q .

demo: build
	$(PYTHON) scripts/demo.py

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dpython=false

test-c: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) --print-errorlogs

test-py: build
	OSSC_LIVE_ENGINE_BINS=$(BUILD)/libpreload/tests/live_engine:$(ASAN_BUILD)/libpreload/tests/live_engine \
	    $(PYTHON) -m pytest -q tests --ignore=tests/packaging
	# Install tests in a process of their own (they install system packages).
	$(PYTHON) -m pytest -q tests/packaging

# The engine and its C tests once more with AddressSanitizer and UBSan.
asan: deps
	[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Dpython=false \
	    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	    meson test -C $(ASAN_BUILD) --print-errorlogs

test: test-c asan
	$(MAKE) test-py

bench: build
	$(PYTHON) scripts/bench/run.py --scenario engine_get
	$(PYTHON) scripts/bench/run.py --scenario all --markdown

packages: deps
	bash packaging/build-packages.sh

docs: deps
	$(PYTHON) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-pkg dist site

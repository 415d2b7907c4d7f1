# Two commands on a fresh machine:
#   make demo   - install what is needed, build, run the demo on the local emulator
#   make test   - install what is needed, build, run every test (C and Python)

PYTHON ?= python3
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
# Seconds each libFuzzer harness mutates in `make fuzz` (and `make test`).
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = xml_list xml_error config cred uri manifest peer_request bc_settings

.PHONY: demo test deps build test-c test-py asan fuzz tsan bench clean packages wheel docs

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

# libFuzzer harnesses (libpreload/fuzz/) under ASan+UBSan, FUZZ_SECONDS each
# after replaying the seed corpus; fails on any crash, leak or hang.  Needs
# clang.  Longer runs: make fuzz FUZZ_SECONDS=600
fuzz: deps
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
	    -Dpython=false -Dtests=false -Dbuildtype=debugoptimized
	ninja -C $(FUZZ_BUILD) $(addprefix libpreload/fuzz/fuzz_,$(FUZZ_TARGETS))
	libpreload/fuzz/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The engine and the preload library with ThreadSanitizer, then the live
# engine test and the node cache under threads and processes (scripts/tsan.sh).
tsan: build
	[ -f $(TSAN_BUILD)/build.ninja ] || meson setup $(TSAN_BUILD) -Dpython=false \
	    -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized
	ninja -C $(TSAN_BUILD)
	PYTHON=$(PYTHON) bash scripts/tsan.sh $(TSAN_BUILD)

test: test-c asan fuzz
	$(MAKE) test-py

bench: build
	$(PYTHON) scripts/bench/run.py --scenario engine_get
	$(PYTHON) scripts/bench/run.py --scenario all --markdown

# dist/: the .deb, the .rpm and the portable manylinux wheel (its
# dependencies built from source once, cached in build-manylinux/).
packages: deps
	bash packaging/build-packages.sh

wheel: deps
	bash packaging/build-packages.sh wheel

docs: deps
	$(PYTHON) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD) build-pkg build-manylinux dist site

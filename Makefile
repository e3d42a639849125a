# Thin wrapper over CMake. `make run` and `make test` work on a fresh
# Debian 12 machine as root: they install what is missing first.

BUILD      ?= build
TEST_BUILD ?= build-test
PREFIX     ?= /usr/local
CONFIG     ?= configs/parley.yaml
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all deps deps-test build run test install clean fuzz bench

all: build

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh --test

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_BUILD_TESTS=OFF

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	mkdir -p data
	$(BUILD)/bin/parley --config $(CONFIG)

# Tests build everything with AddressSanitizer + UndefinedBehaviorSanitizer.
test: deps-test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON -DPARLEY_BUILD_TESTS=ON
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)

# libFuzzer targets (fuzz/README.md): clang, ASan + UBSan, coverage on the
# whole build; each target runs FUZZ_SECONDS, one after the other, new inputs
# and crashes under $(FUZZ_BUILD)/fuzz-work. FUZZ_TARGETS picks some
# (eio eio_query sio http_query http_head ws_frame rest_json config server); FUZZ_ARGS adds libFuzzer flags.
FUZZ_BUILD   ?= build-fuzz-clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
FUZZ_ARGS    ?=

fuzz:
	@scripts/deps.sh --fuzz
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_SANITIZE=ON \
		-DPARLEY_FUZZ=ON -DPARLEY_BUILD_TESTS=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS="$(FUZZ_ARGS)" fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

# Benchmarks (bench/README.md, docs/performance.md): a release build of
# Parley, the C tools of bench/ and the Node reference (npm ci from its
# lockfile) in $(BENCH_BUILD), then bench/run.py: Parley and the Node
# original alternately, BENCH_ROUNDS rounds, medians, a Markdown table in
# bench/results/ and on stdout. BENCH_ARGS adds run.py flags (--quick,
# --room5000, --only fanout1000,ramp10000,...).
BENCH_BUILD  ?= build-bench
BENCH_ROUNDS ?= 3
BENCH_ARGS   ?=

bench:
	@scripts/deps.sh --bench
	$(MAKE) build BUILD=$(BENCH_BUILD)
	$(MAKE) -C bench OUT=$(CURDIR)/$(BENCH_BUILD)/bench
	mkdir -p $(BENCH_BUILD)/bench/reference
	cp bench/reference/package.json bench/reference/package-lock.json bench/reference/server.js $(BENCH_BUILD)/bench/reference/
	cd $(BENCH_BUILD)/bench/reference && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	python3 bench/run.py --build $(BENCH_BUILD) --rounds $(BENCH_ROUNDS) $(BENCH_ARGS)

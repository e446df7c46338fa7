# Latchkey — the two commands a new user needs:
#   make demo   runs the app against a local demo provider (no registration anywhere)
#   make test   runs exactly what CI runs
SHELL := /bin/bash
.DEFAULT_GOAL := help
export CARGO_BUILD_JOBS ?= 2

APT_BUILD := build-essential pkg-config file libwebkit2gtk-4.1-dev libxdo-dev libssl-dev \
             libayatana-appindicator3-dev librsvg2-dev
APT_RUN   := xvfb xauth imagemagick webkit2gtk-driver gnome-keyring dbus-x11 libsecret-tools \
             xdg-utils desktop-file-utils x11-utils librsvg2-bin
STAMP := target/.stamps

.PHONY: help deps apt npm ui build demo test types e2e soak fuzz package package-test clean icons bench

help:
	@echo "make demo   - run Latchkey with a local demo provider"
	@echo "make test   - everything CI runs (fmt, clippy, Rust tests, UI checks and tests)"
	@echo "make package - build the .deb installer"
	@echo "make fuzz   - property-based fuzzing of every parser (1,000,000+ inputs)"
	@echo "make types  - regenerate the UI's TypeScript types and test presets from the Rust definitions"

## Dependencies --------------------------------------------------------------------------
deps: apt npm $(STAMP)/tauri-driver

apt:
	@missing=$$(for p in $(APT_BUILD) $(APT_RUN); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else echo "Please install: $$missing" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

npm: $(STAMP)/ui-npm $(STAMP)/provider-npm

$(STAMP)/ui-npm: ui/package-lock.json
	npm ci --prefix ui --no-audit --no-fund
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/provider-npm: tests/provider/package-lock.json
	npm ci --prefix tests/provider --no-audit --no-fund
	@mkdir -p $(STAMP) && touch $@

# The WebDriver bridge for the end-to-end tests (it drives Debian's WebKitWebDriver).
$(STAMP)/tauri-driver:
	@command -v tauri-driver >/dev/null || cargo install tauri-driver --locked
	@mkdir -p $(STAMP) && touch $@

## Build ---------------------------------------------------------------------------------
ui: npm
	npm --prefix ui run build --silent

# Debug builds for the demo and the end-to-end tests carry the test hooks (`test-hooks`
# feature: opened-URL log, demo seeding, bench readiness file); `make package` never does.
HOOKS := --features latchkey/test-hooks
build: deps ui
	cargo build --workspace $(HOOKS)

## Run -----------------------------------------------------------------------------------
demo: build
	scripts/demo.sh

## Test ----------------------------------------------------------------------------------
test: deps ui
	@rm -rf target/test-logs
	@scripts/phase.sh "fmt"            cargo fmt --all --check
	@scripts/phase.sh "clippy"         cargo clippy --workspace --all-targets -- -D warnings
	@scripts/phase.sh "clippy (hooks)" cargo clippy -p latchkey --all-targets $(HOOKS) -- -D warnings
	@scripts/phase.sh "core deps"      scripts/check-core-deps.sh
	@scripts/phase.sh "types fresh"    scripts/check-types.sh
	@scripts/phase.sh "ui check"       npm --prefix ui run check
	@scripts/phase.sh "ui test"        npm --prefix ui test
	@scripts/phase.sh "provider test"  npm --prefix tests/provider test
	@scripts/phase.sh "rust tests"     cargo test --workspace -- --skip end_to_end
	@scripts/phase.sh "e2e"            cargo test --test e2e $(HOOKS) -- --nocapture
	@scripts/phase.sh "package"        $(MAKE) --no-print-directory package-test
	@echo "make test: all phases passed"
	@scripts/summary.sh

# End-to-end: the real window under Xvfb through tauri-driver; screenshots in target/e2e/.
e2e: deps ui
	cargo build -p latchkey-desktop --bins
	cargo test --test e2e $(HOOKS) -- --nocapture

## Types -------------------------------------------------------------------------------
# The UI's IPC types, generated from the Rust definitions (ts-rs): one file per type in
# ui/src/lib/generated/ plus an index.ts, and the real preset table for the UI tests in
# ui/tests/fixtures/presets.json (core/examples/ts_types.rs). `make test` fails when they are
# stale (scripts/check-types.sh). Run this after changing a type that crosses to the window.
types:
	cargo run -q -p latchkey-core --example ts_types -- ui/src/lib/generated ui/tests/fixtures

## Fuzz ----------------------------------------------------------------------------------
# Property-based fuzzing on stable Rust (proptest), core/tests/fuzz.rs: callback URLs and the
# flow's checks, token and error responses, discovery metadata, profiles/mementos/grants, the
# loopback request head and the deep-link argv handler — FUZZ_CASES inputs per target, each
# under catch_unwind (a panic is counted and reported with its input). `make test` runs a
# fixed-seed sample of each. The last line gives the totals.
FUZZ_CASES ?= 170000
fuzz:
	@rm -f target/fuzz-summary.txt; start=$$(date +%s); \
	LATCHKEY_FUZZ_CASES=$(FUZZ_CASES) cargo test -q -p latchkey-core --test fuzz -- --nocapture --test-threads=2 2>&1 | sed -E 's/^[.i]+//' | grep -v '^$$'; rc=$${PIPESTATUS[0]}; \
	read n p v < target/fuzz-summary.txt || { n=0; p=0; v=0; }; \
	echo "make fuzz: $$n generated inputs, $$p panics, $$v invariant failures in $$(( $$(date +%s) - start )) s"; \
	exit $$rc

# Soak: the agent SIGKILLed at random moments mid-refresh, 200 times (make test runs 20).
soak: deps
	SOAK_TRIALS=$${SOAK_TRIALS:-200} cargo test -p latchkey-desktop --test refresh_faults sigkill -- --nocapture

## Bench ---------------------------------------------------------------------------------
# Latchkey against a blank Tauri window, goa-daemon and plain reqwest + keyring, on the release
# build under Xvfb: a Markdown table on stdout, the figures in target/bench/results.json
# (bench/run.sh, bench/src/main.rs; BENCH_RUNS etc. in bench/src/main.rs).
bench: npm ui
	@$(MAKE) --no-print-directory apt APT_RUN="$(APT_RUN) gnome-online-accounts"
	bench/run.sh

## Package -------------------------------------------------------------------------------
# The .deb: the app, plus latchkey-agent and latchkey-cli as sidecars (installed to /usr/bin),
# and latchkey-cli's shell completions (bash, zsh, fish) and man page.
TRIPLE = $(shell rustc -vV | sed -n 's/^host: //p')
package: deps ui
	cargo build --release -p latchkey -p latchkey-desktop
	@mkdir -p target/sidecars
	cp target/release/latchkey-agent target/sidecars/latchkey-agent-$(TRIPLE)
	cp target/release/latchkey-cli target/sidecars/latchkey-cli-$(TRIPLE)
	@# Shell completions and the man page, generated from latchkey-cli's own definitions.
	@mkdir -p target/cli-docs
	target/release/latchkey-cli completions bash > target/cli-docs/latchkey-cli.bash
	target/release/latchkey-cli completions zsh > target/cli-docs/_latchkey-cli
	target/release/latchkey-cli completions fish > target/cli-docs/latchkey-cli.fish
	target/release/latchkey-cli man | gzip -9n > target/cli-docs/latchkey-cli.1.gz
	ui/node_modules/.bin/tauri build --bundles deb --config src-tauri/tauri.bundle.json
	@ls -l target/release/bundle/deb/*.deb

# Installs the .deb, checks the URL scheme through the desktop's handler, removes it.
package-test: package
	tests/package.sh

clean:
	cargo clean
	rm -rf ui/dist ui/node_modules tests/provider/node_modules $(STAMP)

## Icons: regenerate the platform sizes from the one source drawing ---------------------
icons: npm
	cd ui && npx tauri icon ../icons/icon.svg --output ../icons && rm -rf ../icons/android ../icons/ios

# Mutual's everyday commands. Run `make help` for the list.

GO       ?= go
# Flags for `make run`, e.g. make run ARGS='--addr 127.0.0.1:9090 --data-dir /var/lib/mutual'
ARGS     ?=
# How much each benchmark runs (go test -benchtime): the ledger's benchmarks
# count one iteration per transfer.
BENCHTIME ?= 20000x
# Packages whose benchmarks count one iteration per transfer (run BENCHTIME
# times); the matching benchmarks are whole problems, run MATCHTIME times.
BENCHPKGS ?= ./ledger/
MATCHTIME ?= 3x
# Ranking one need's matches and one word search are short: many of each.
RANKTIME ?= 2000x
SEARCHTIME ?= 2000x
# Agreements run whole, each four transactions: propose, accept, confirm twice.
AGREETIME ?= 2000x
# The growth benchmark loads 10,000 and then 1,000,000 transfers and measures
# reads and verify on them; one iteration is a whole measurement.
GROWTHTIME ?= 1x
# The PostgreSQL reference measurement run before the benchmarks when it exists
# (it lives outside the repository); its figures are what the ledger's are compared to.
CEILING  ?= ../shared/bench/ceiling.sh
# Where `make bench` keeps each part's output for its closing table of ratios.
BENCHOUT ?= /tmp/mutual-bench

.PHONY: help run build test axe vet lint fmt deps bench fuzz demo loadtest clean screenshots test-serializable test-faults test-cockroach

help:
	@echo 'make run      start the server in local mode (data in ./.mutual; ARGS=... for flags)'
	@echo 'make test     go vet, then every test against a private PostgreSQL'
	@echo 'make test-serializable  the tests again with every transaction SERIALIZABLE, as on CockroachDB'
	@echo 'make test-faults  the bank test and the agreement and trade races with 20% injected failures (FAULTS=0.2)'
	@echo 'make test-cockroach  the tests on a CockroachDB (COCKROACH_BINARY=/path/to/cockroach)'
	@echo 'make lint     gofmt check, go vet, staticcheck and the import-direction check'
	@echo 'make build    build bin/mutual'
	@echo 'make demo     load a small realistic network into the running server (make run first)'
	@echo 'make loadtest drive the running server with transfers for 20 s (ARGS=--hot, --workers 8, ...)'
	@echo 'make bench    the PostgreSQL ceiling (if $(CEILING) exists), the Go benchmarks, then the HTTP load generator'
	@echo 'make screenshots  the main pages at 360 and 1280 px, from a private server with the demo, into docs/screenshots'
	@echo 'make fuzz     run each fuzz target for FUZZTIME (default 10m), one after another'
	@echo 'make fmt      gofmt -w the tree'
	@echo 'make deps     check that packages import only inward'

# Built, then exec'd rather than `go run`: go run exits 1 after a Ctrl-C even
# when mutual shut down cleanly, and make would then report an error.
run:
	$(GO) build -o bin/mutual ./cmd/mutual && exec bin/mutual serve $(ARGS)

build:
	$(GO) build -o bin/mutual ./cmd/mutual

# Both talk to the server `make run` started, with the admin token its first
# run saved in ./.mutual/admin-token (or MUTUAL_TOKEN, or ARGS=--token ...).
demo: build
	bin/mutual demo $(ARGS)

loadtest: build
	bin/mutual bench $(ARGS)

test: vet axe
	$(GO) test -count=1 -timeout 15m ./...

# axe-core, which the browser tests run in Chromium, comes from the npm
# registry at the version web/testdata/axe/package-lock.json pins; it is
# installed once (node_modules is not in the repository).
AXEDIR := web/testdata/axe
axe: $(AXEDIR)/node_modules/axe-core/axe.min.js
$(AXEDIR)/node_modules/axe-core/axe.min.js: $(AXEDIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is needed to install axe-core for the browser tests (apt-get install npm; .ci/run does)" >&2; exit 1; }
	cd $(AXEDIR) && npm ci --no-audit --no-fund
	@touch $@

vet:
	$(GO) vet ./...

# The fuzz targets, as package:name; `make test` runs their seed corpora
# (f.Add and testdata/fuzz), `make fuzz` fuzzes each for FUZZTIME in turn.
# A failure leaves its input in the package's testdata/fuzz: commit it as a
# regression seed with the fix.
FUZZTIME    ?= 10m
# How long the fuzzer may spend shrinking each new interesting input: Go's
# default, 60s, stalls a run, and one that ends while shrinking fails with
# "context deadline exceeded".
FUZZMINIMIZE ?= 5s
FUZZTARGETS ?= ./httpapi/:FuzzDecode ./httpapi/:FuzzParseDecimal ./httpapi/:FuzzCursor ./httpapi/:FuzzListQuery ./httpapi/:FuzzTransferBody

fuzz:
	@set -e; for t in $(FUZZTARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== $$name ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg; \
	done

# CockroachDB runs every transaction SERIALIZABLE: the code must be correct,
# and every 40001 retried, when PostgreSQL does too (MUTUAL_ISOLATION makes
# it the test server's default isolation, which internal/pgtx honours).
SERIALPKGS ?= ./ledger/... ./exchange/... ./httpapi/... ./internal/... ./cmd/...
test-serializable:
	MUTUAL_ISOLATION=serializable $(GO) test -count=1 -timeout 20m $(SERIALPKGS)

# The bank test, which checks that no acknowledged transfer is lost or
# applied twice, and the exchange's agreement and trade races, run with FAULTS of the round trips and COMMITs failing on
# purpose (40001s, and connections cut with COMMIT in flight), and the tests
# of the retry helper and of the idempotency records that inject faults
# themselves (at 0.5); the figures are on the "faults" and "Stats" lines.
FAULTS ?= 0.2
FAULTTESTS ?= TestBank$$|TestTradeDecisionsRace|TestAgreementRaceBothParties|TestIdempotencyKeysSettleLostCommits|TestInjectedFaults|TestLostCommitsAreSettled
test-faults:
	@log=$$(mktemp); \
	MUTUAL_FAULTS=$(FAULTS) $(GO) test -count=1 -timeout 20m -v -run '$(FAULTTESTS)' ./ledger/ ./exchange/ ./httpapi/ ./internal/pgtx/ ./internal/idempotency/ >$$log 2>&1; \
	status=$$?; grep -E '^(--- FAIL|FAIL|ok|panic)|faults |_test.go:[0-9]+: ' $$log; rm -f $$log; exit $$status

# The suite on a real CockroachDB, started by cockroach-go's testserver from
# the binary COCKROACH_BINARY names. internal/pglocal (the PostgreSQL
# launcher) and internal/pgtx (PostgreSQL's transaction protocol and fault
# injection) are about PostgreSQL only and are left out.
test-cockroach:
	@if [ -z "$(COCKROACH_BINARY)" ]; then \
	  echo "make test-cockroach: set COCKROACH_BINARY to the path of a cockroach binary (https://www.cockroachlabs.com/docs/releases/), e.g. make test-cockroach COCKROACH_BINARY=/usr/local/bin/cockroach" >&2; exit 2; fi
	MUTUAL_TEST_DB=cockroach COCKROACH_BINARY='$(COCKROACH_BINARY)' $(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v -e /internal/pglocal -e /internal/pgtx)

# staticcheck comes from the Go module proxy at a pinned version.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: vet deps
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w .

# Imports point inward (cmd -> web, httpapi -> exchange -> ledger -> schema):
# ledger and exchange never reach net/http or the packages above them,
# httpapi and web never import pgx themselves, and the two front ends never
# import each other. Packages not written yet are skipped.
MODULE := github.com/mutual-ledger/mutual
deps:
	@fail=0; \
	check() { dir=$$1; field=$$2; shift 2; \
	  [ -d "$$dir" ] || return 0; \
	  list=$$($(GO) list -f "$$field" "./$$dir") || { fail=1; return 0; }; \
	  for bad in "$$@"; do \
	    if printf '%s\n' "$$list" | grep -q "^$$bad\(/\|$$\)"; then echo "deps: $$dir must not import $$bad"; fail=1; fi; \
	  done; }; \
	all='{{join .Deps "\n"}}'; direct='{{join .Imports "\n"}}'; \
	check ledger   "$$all"    net/http $(MODULE)/exchange $(MODULE)/httpapi $(MODULE)/cmd; \
	check exchange "$$all"    net/http $(MODULE)/httpapi $(MODULE)/cmd; \
	check httpapi  "$$direct" github.com/jackc/pgx $(MODULE)/cmd; \
	check httpapi  "$$all"    $(MODULE)/web; \
	check web      "$$direct" github.com/jackc/pgx $(MODULE)/cmd; \
	check web      "$$all"    $(MODULE)/httpapi; \
	check schema   "$$all"    $(MODULE)/ledger $(MODULE)/exchange $(MODULE)/httpapi $(MODULE)/web; \
	check exchange "$$all"    $(MODULE)/web; \
	if [ $$fail = 0 ]; then echo "deps: imports point inward"; fi; exit $$fail

# Each part's output is also kept in $(BENCHOUT), for the table of ratios to
# the ceiling printed at the end (scripts/benchratios); pipefail keeps a
# failing part failing make through tee.
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench:
	@mkdir -p "$(BENCHOUT)" && rm -f "$(BENCHOUT)"/ceiling.txt "$(BENCHOUT)"/go.txt "$(BENCHOUT)"/http.txt
	@if [ -f "$(CEILING)" ]; then \
	  echo "== PostgreSQL ceiling: $(CEILING) 20"; bash scripts/stolen.sh bash "$(CEILING)" 20 | tee "$(BENCHOUT)/ceiling.txt"; \
	else echo "== $(CEILING) not found: skipping the PostgreSQL ceiling"; fi
	@echo "== Go benchmarks ($(BENCHPKGS), -benchtime $(BENCHTIME))"
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 60m $(BENCHPKGS) | tee "$(BENCHOUT)/go.txt"
	@echo "== matching benchmarks (-benchtime $(MATCHTIME))"
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(MATCHTIME) -timeout 30m ./exchange/matching/
	@echo "== ranked matches for one need among 100,000 open offers (-benchtime $(RANKTIME))"
	$(GO) test -run '^$$' -bench 'Rank100k' -benchmem -benchtime $(RANKTIME) -timeout 30m ./exchange/matching/
	@echo "== word searches among 100,000 listings over HTTP, p50 and p99 (-benchtime $(SEARCHTIME))"
	$(GO) test -run '^$$' -bench 'Search100k' -benchtime $(SEARCHTIME) -timeout 30m ./httpapi/
	@echo "== clearing 50,000 firms and 1,000,000 obligations on one core (one iteration is a whole clearing)"
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -cpu 1 -timeout 30m ./exchange/clearing/
	@echo "== agreements from proposal to the hours moved (-benchtime $(AGREETIME))"
	$(GO) test -run '^$$' -bench AgreementLifecycle -benchmem -benchtime $(AGREETIME) -timeout 30m ./exchange/
	@echo "== roll-up of 1,000 organizations with 10 accounts each, now and at a past instant (-benchtime 20x)"
	$(GO) test -run '^$$' -bench Rollup -benchmem -benchtime 20x -timeout 30m ./exchange/
	@echo "== growth: balance at an instant, history, statements, verify and throughput at 10,000 and 1,000,000 transfers (-benchtime $(GROWTHTIME))"
	$(GO) test -run '^$$' -bench Growth -benchtime $(GROWTHTIME) -timeout 60m ./cmd/mutual/
	@echo "== HTTP load generator against a private server (scripts/loadtest.sh)"
	bash scripts/loadtest.sh 20 | tee "$(BENCHOUT)/http.txt"
	@if [ -f "$(CEILING)" ]; then \
	  echo "== the ledger's group SQL alone by pgbench, next to transfer_rc on the same server (scripts/sqlbound.sh)"; \
	  bash scripts/sqlbound.sh 20; \
	fi
	@echo "== the pages: 32 signed-in members browsing the demo at once, time per page (scripts/pages.sh)"
	bash scripts/pages.sh bench 90
	@echo "== the ledger against the PostgreSQL ceiling of this run (scripts/benchratios)"
	@$(GO) run ./scripts/benchratios -ceiling "$(BENCHOUT)/ceiling.txt" -go "$(BENCHOUT)/go.txt" -http "$(BENCHOUT)/http.txt"

# The screenshots the README shows: a private server with the demo, the
# main pages at 360 and 1280 CSS px through Chromium (scripts/pages).
screenshots:
	bash scripts/pages.sh screenshots

clean:
	rm -rf bin

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
# Agreements run whole, each four transactions: propose, accept, confirm twice.
AGREETIME ?= 2000x
# The growth benchmark loads 10,000 and then 1,000,000 transfers and measures
# reads and verify on them; one iteration is a whole measurement.
GROWTHTIME ?= 1x
# The PostgreSQL reference measurement run before the benchmarks when it exists
# (it lives outside the repository); its figures are what the ledger's are compared to.
CEILING  ?= ../shared/bench/ceiling.sh

.PHONY: help run build test vet lint fmt deps bench demo loadtest clean

help:
	@echo 'make run      start the server in local mode (data in ./.mutual; ARGS=... for flags)'
	@echo 'make test     go vet, then every test against a private PostgreSQL'
	@echo 'make lint     gofmt check, go vet, staticcheck and the import-direction check'
	@echo 'make build    build bin/mutual'
	@echo 'make demo     load a small realistic network into the running server (make run first)'
	@echo 'make loadtest drive the running server with transfers for 20 s (ARGS=--hot, --workers 8, ...)'
	@echo 'make bench    the PostgreSQL ceiling (if $(CEILING) exists), the Go benchmarks, then the HTTP load generator'
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

test: vet
	$(GO) test -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

# staticcheck comes from the Go module proxy at a pinned version.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: vet deps
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w .

# Imports point inward (cmd -> httpapi -> exchange -> ledger -> schema):
# ledger and exchange never reach net/http or the packages above them, and
# httpapi never imports pgx itself. Packages not written yet are skipped.
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
	check schema   "$$all"    $(MODULE)/ledger $(MODULE)/exchange $(MODULE)/httpapi; \
	if [ $$fail = 0 ]; then echo "deps: imports point inward"; fi; exit $$fail

bench:
	@if [ -f "$(CEILING)" ]; then \
	  echo "== PostgreSQL ceiling: $(CEILING) 20"; bash "$(CEILING)" 20; \
	else echo "== $(CEILING) not found: skipping the PostgreSQL ceiling"; fi
	@echo "== Go benchmarks ($(BENCHPKGS), -benchtime $(BENCHTIME))"
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 60m $(BENCHPKGS)
	@echo "== matching benchmarks (-benchtime $(MATCHTIME))"
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(MATCHTIME) -timeout 30m ./exchange/matching/
	@echo "== agreements from proposal to the hours moved (-benchtime $(AGREETIME))"
	$(GO) test -run '^$$' -bench AgreementLifecycle -benchmem -benchtime $(AGREETIME) -timeout 30m ./exchange/
	@echo "== growth: balance at an instant, history, statements, verify and throughput at 10,000 and 1,000,000 transfers (-benchtime $(GROWTHTIME))"
	$(GO) test -run '^$$' -bench Growth -benchtime $(GROWTHTIME) -timeout 60m ./cmd/mutual/
	@echo "== HTTP load generator against a private server (scripts/loadtest.sh)"
	bash scripts/loadtest.sh 20

clean:
	rm -rf bin

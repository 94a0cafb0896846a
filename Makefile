# Sitewarden build. 'make' or 'make help' lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKG         := github.com/sitewarden/sitewarden
LDFLAGS     := -s -w -X $(PKG)/runner/cli.Version=$(VERSION) -X $(PKG)/control-plane/cli.Version=$(VERSION)
BUF         := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.75.0
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
PLUGINS     := $(patsubst plugins/%/main.go,%,$(wildcard plugins/*/main.go))
FUZZTIME    ?= 30s
BENCHTIME   ?= 1s
BENCHCOUNT  ?= 3
TESTFLAGS   ?= -race -timeout 20m

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary for linux/amd64 into bin/ and windows/amd64 into bin/windows/
	GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/sitewarden-runner ./runner
	GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/sitewarden ./control-plane
	@for p in $(PLUGINS); do \
		echo "GOOS=linux GOARCH=amd64 $(GO) build -o bin/plugins/sitewarden-plugin-$$p ./plugins/$$p"; \
		GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/plugins/sitewarden-plugin-$$p ./plugins/$$p || exit 1; \
	done
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/windows/sitewarden-runner.exe ./runner
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/windows/sitewarden.exe ./control-plane
	@for p in $(PLUGINS); do \
		echo "GOOS=windows GOARCH=amd64 $(GO) build -o bin/windows/plugins/sitewarden-plugin-$$p.exe ./plugins/$$p"; \
		GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/windows/plugins/sitewarden-plugin-$$p.exe ./plugins/$$p || exit 1; \
	done

.PHONY: msi
msi: deps build ## Build dist/sitewarden-runner-$(VERSION)-x64.msi with wixl (VERSION=x.y.z; signed when SITEWARDEN_SIGN_CERT/KEY are set)
	$(GO) run ./installer msi --version $(VERSION) --bin bin/windows --out dist/sitewarden-runner-$(VERSION)-x64.msi

.PHONY: deb
deb: build ## Build dist/sitewarden-runner_$(VERSION)_amd64.deb with nfpm (VERSION=x.y.z)
	$(GO) run ./installer deb --version $(VERSION) --bin bin --out dist/sitewarden-runner_$(VERSION)_amd64.deb

.PHONY: rpm
rpm: build ## Build dist/sitewarden-runner-$(VERSION)-1.x86_64.rpm with nfpm (VERSION=x.y.z)
	$(GO) run ./installer rpm --version $(VERSION) --bin bin --out dist/sitewarden-runner-$(VERSION)-1.x86_64.rpm

.PHONY: deps
deps: ## Install the system packages the tests need (Debian, as root; idempotent)
	@bash .ci/deps.sh

.PHONY: test
test: deps build ollama ## Run every test, including integration tests with real servers (screenshots: test-artifacts/)
	SITEWARDEN_BIN=$(CURDIR)/bin SW_ARTIFACTS=$(CURDIR)/test-artifacts $(GO) test $(TESTFLAGS) ./...

.PHONY: ollama
ollama: ## Build the Ollama server for runner/model's real-server test (once; cached outside the repo)
	@bash .ci/ollama.sh >/dev/null

.PHONY: eval
eval: ## Run the planner scenario corpus against the model OLLAMA_HOST serves (EVAL_MODEL=name to pick one)
	$(GO) run ./runner/model/internal/evalcmd

.PHONY: check
check: ## gofmt, vet, staticcheck, tidy diff, generated-code diff, Windows build, architecture tests
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt: these files need 'gofmt -w':"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }
	@bash .ci/gencheck.sh "$(BUF)"
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./...
	$(GO) test -count=1 -run 'TestArchitecture' ./e2e/

.PHONY: generate
generate: ## Regenerate protobuf code (buf, pinned, through go run)
	cd protocol && $(BUF) lint && $(BUF) generate
	cd plugins/sdk && $(BUF) lint && $(BUF) generate

.PHONY: run
run: deps build ## The demo: control plane, two clients' runners, a demo directory and goals (RUN_FOR=10m bounds it)
	@bash .ci/run-local.sh

.PHONY: bench
bench: build ## Run every benchmark BENCHCOUNT times (default 3) and write docs/benchmarks.md (medians)
	@BENCHCOUNT=$(BENCHCOUNT) bash .ci/bench.sh $(BENCHTIME)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 30s) each
	@bash .ci/fuzz.sh $(FUZZTIME)

.PHONY: clean
clean: ## Remove build outputs
	rm -rf bin dist test-artifacts

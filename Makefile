# ftp-operator — `make help` lists the targets.

IMG ?= localhost/ftp-operator:$(VERSION)
# The image tag the chart and kustomize deploy (the chart's appVersion), unless HEAD carries a release tag.
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null || sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/ftp-operator/Chart.yaml)
BIN := $(CURDIR)/bin
CONTROLLER_GEN_VERSION ?= v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
K8S_VERSION ?= 1.37.2
GO_TEST_FLAGS ?=
# A count, not a duration: go1.26's fuzz coordinator can fail a target with "context deadline exceeded" when a
# duration runs out while a worker is busy (golang/go#75804, fixed in go1.27); a count only runs slower on a busy
# machine. 150000 inputs take about 7-10 s per target here.
FUZZTIME ?= 150000x

.DEFAULT_GOAL := help

# hack/mk/*.mk add targets and append to VERIFY_EXTRA / TEST_EXTRA (prerequisites of verify and test).
VERIFY_EXTRA :=
TEST_EXTRA :=
-include hack/mk/*.mk
SHELL := /usr/bin/env bash -o pipefail

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests under config/ from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: manifests generate $(VERIFY_EXTRA) ## Regenerate everything and fail if a generated file was out of date, code is unformatted or go.mod is not tidy.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above are not formatted"; exit 1; }
	@for d in . hack/imagepack; do (cd $$d && go mod tidy -diff) || { echo "go.mod/go.sum in $$d are not tidy: run go mod tidy there and commit"; exit 1; }; done
	@git diff --exit-code -- config api charts || { echo "generated files are out of date: run 'make manifests generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- config api charts)" || { git status --porcelain -- config api charts; echo "generated files are not committed"; exit 1; }

.PHONY: build
build: ## Build the ftp-operator binary (subcommands manager and ftpd), its engine-only build ftp-operator-ftpd (-tags ftpdonly) and the kubectl-ftp plugin into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/ftp-operator ./cmd/ftp-operator
	CGO_ENABLED=0 go build -tags ftpdonly -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/ftp-operator-ftpd ./cmd/ftp-operator
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/kubectl-ftp ./cmd/kubectl-ftp

.PHONY: demo
demo: build envtest-assets metallb ## Run the operator's whole chain on an embedded default (local API server, MetalLB, manager, engine); Ctrl-C stops it.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh)" METALLB_DIR="$$(hack/metallb.sh)" \
		go run ./hack/demo $(DEMO_FLAGS)

##@ Test

.PHONY: envtest-assets
envtest-assets: ## Provide kube-apiserver and etcd for envtest in bin/k8s (download, or build from the Go module proxy).
	@K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh >/dev/null

.PHONY: test
# test-packaging (TEST_EXTRA) runs test/packaging, hack/chartgen and hack/apidocs with the tools they need.
test: verify vet envtest-assets metallb test-clients $(TEST_EXTRA) ## Run every test: unit, engine (-race), fuzz smoke, envtest + MetalLB controllers, real FTP clients.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh)" METALLB_DIR="$$(hack/metallb.sh)" \
		go test $(GO_TEST_FLAGS) -race -count=1 $$(go list ./... | grep -v -e /test/packaging -e /hack/chartgen -e /hack/apidocs)
	$(MAKE) --no-print-directory fuzz

.PHONY: metallb
metallb: ## Build MetalLB's controller (a real load balancer for the tests) into bin/metallb.
	@hack/metallb.sh >/dev/null

.PHONY: test-clients
test-clients: ## Install the FTP clients the integration tests drive (curl, lftp, python3) from Debian packages.
	@hack/install-test-clients.sh

.PHONY: fuzz
fuzz: ## Run each fuzz target briefly (FUZZTIME, default 150000x inputs; a duration such as 30s works too).
	@for pkg in $$(go list ./...); do \
		for f in $$(go test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $(CONTROLLER_GEN)


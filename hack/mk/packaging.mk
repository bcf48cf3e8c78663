# Packaging: the image tarball (no Docker needed), the Helm chart, the kustomize config, the API reference.
# Included by the Makefile; appends to VERIFY_EXTRA and TEST_EXTRA.

HELM_VERSION ?= v4.3.1
HELM := $(BIN)/helm-$(HELM_VERSION)
KUSTOMIZE_VERSION ?= v5.8.2
KUSTOMIZE := $(BIN)/kustomize-$(KUSTOMIZE_VERSION)
IMAGEPACK := $(BIN)/imagepack
IMAGE_TAR ?= $(BIN)/image/ftp-operator-$(VERSION).tar
CHART_DIR := charts/ftp-operator
# make release writes here; make image-push pushes what it wrote.
DIST ?= dist
RELEASE_ARCHS ?= amd64 arm64
CHART_VERSION = $(shell sed -n 's/^version: *//p' $(CHART_DIR)/Chart.yaml)
# Where make image-push puts the chart: REGISTRY/charts/ftp-operator:CHART_VERSION for IMG=REGISTRY/....
CHART_REPO ?= $(firstword $(subst /, ,$(IMG)))/charts/ftp-operator
# Timestamps inside the image: the commit time, so that one commit always gives one digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

VERIFY_EXTRA += chart verify-docs
TEST_EXTRA += test-packaging

##@ Packaging

.PHONY: image
image: build $(IMAGEPACK) ## Pack bin/ftp-operator (its engine-only build at /ftp-operator-ftpd, the kubectl-ftp plugin at /kubectl-ftp) into bin/image/ftp-operator-VERSION.tar as IMG (localhost/ftp-operator:VERSION), reproducibly, without Docker.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(IMAGEPACK) --binary $(BIN)/ftp-operator --extra /ftp-operator-ftpd=$(BIN)/ftp-operator-ftpd --extra /kubectl-ftp=$(BIN)/kubectl-ftp --tag $(IMG) --out $(IMAGE_TAR) \
		--label org.opencontainers.image.title=ftp-operator \
		--label org.opencontainers.image.version=$(VERSION) \
		--label org.opencontainers.image.source=https://github.com/ftp-operator/ftp-operator

.PHONY: release
release: helm kustomize $(IMAGEPACK) ## Write dist/: the image for linux/amd64 and arm64 (OCI layout), the chart (.tgz and OCI layout) and install.yaml, all naming IMG.
	rm -rf $(DIST) && mkdir -p $(DIST)/bin
	for arch in $(RELEASE_ARCHS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
			-o $(DIST)/bin/linux-$$arch/ftp-operator ./cmd/ftp-operator || exit 1; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch go build -tags ftpdonly -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
			-o $(DIST)/bin/linux-$$arch/ftp-operator-ftpd ./cmd/ftp-operator || exit 1; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
			-o $(DIST)/bin/linux-$$arch/kubectl-ftp ./cmd/kubectl-ftp || exit 1; \
	done
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(IMAGEPACK) index --tag $(IMG) --out $(DIST)/image \
		$(foreach a,$(RELEASE_ARCHS),--binary linux/$(a)=$(DIST)/bin/linux-$(a)/ftp-operator) \
		--extra /ftp-operator-ftpd=$(DIST)/bin/linux-{arch}/ftp-operator-ftpd \
		--extra /kubectl-ftp=$(DIST)/bin/linux-{arch}/kubectl-ftp \
		--label org.opencontainers.image.title=ftp-operator \
		--label org.opencontainers.image.version=$(VERSION) \
		--label org.opencontainers.image.source=https://github.com/ftp-operator/ftp-operator \
		--label org.opencontainers.image.licenses=Apache-2.0
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(HELM) package $(CHART_DIR) --destination $(DIST)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(IMAGEPACK) chart --chart $(DIST)/ftp-operator-$(CHART_VERSION).tgz --out $(DIST)/chart
	hack/install-yaml.sh $(KUSTOMIZE) $(IMG) > $(DIST)/install.yaml
	rm -rf $(DIST)/bin
	cd $(DIST) && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS

.PHONY: test-release
test-release: helm kustomize $(IMAGEPACK) ## Run make release twice and check dist/ (same digests; both platforms; chart artifact; install.yaml). Not part of make test: it builds for two architectures.
	HELM=$(HELM) KUSTOMIZE=$(KUSTOMIZE) RELEASE_TEST=1 PACKAGING_TOOLS_REQUIRED=1 go test -count=1 -v -run '^TestMakeRelease$$' ./test/packaging/

.PHONY: image-push
image-push: release ## Push the release's image to IMG and its chart to CHART_REPO (REGISTRY/charts/ftp-operator) with go-containerregistry; credentials from ~/.docker/config.json.
	$(IMAGEPACK) push --layout $(DIST)/image --ref $(IMG)
	$(IMAGEPACK) push --layout $(DIST)/chart --ref $(CHART_REPO)

.PHONY: image-check
image-check: image ## Import the image tarball into a private containerd (as a node would: ctr -n k8s.io images import) and check it unpacks.
	hack/image-import-check.sh $(IMAGE_TAR) $(IMG)

.PHONY: chart
chart: chart-crds chart-rbac chart-readme ## Regenerate the chart's generated parts: CRDs and the manager's ClusterRole from config/, the README's values table from values.yaml.

.PHONY: chart-crds
chart-crds: ## Copy config/crd/bases into charts/ftp-operator/templates/crd (guarded by crds.enabled, crds.keep).
	go run ./hack/chartgen crds --in config/crd/bases --out $(CHART_DIR)/templates/crd

.PHONY: chart-rbac
chart-rbac: ## Copy the rules of config/rbac/role.yaml into the chart's manager ClusterRole.
	go run ./hack/chartgen rbac --in config/rbac/role.yaml --out $(CHART_DIR)/templates/rbac/manager_role.yaml

.PHONY: chart-readme
chart-readme: ## Regenerate the values table of the chart's README from the `# --` comments of values.yaml.
	go run ./hack/chartgen readme --in $(CHART_DIR)/values.yaml --out $(CHART_DIR)/README.md

.PHONY: api-docs
api-docs: ## Generate docs/api.md from the CRD's OpenAPI schema.
	go run ./hack/apidocs --out docs/api.md config/crd/bases/*.yaml

.PHONY: verify-docs
verify-docs: api-docs ## Fail if docs/api.md is not what api-docs generates from the committed CRD.
	@git diff --exit-code -- docs/api.md || { echo "docs/api.md is out of date: run 'make api-docs' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- docs/api.md)" || { echo "docs/api.md is not committed"; exit 1; }

.PHONY: test-packaging
test-packaging: helm kustomize envtest-assets build test-imagepack ## Lint the chart; chart and kustomize agree (CRD, RBAC, manager); samples, objects and the manager's RBAC on a real apiserver; GitOps health.
	$(HELM) lint --strict $(CHART_DIR)
	$(HELM) lint --strict $(CHART_DIR) --set metrics.serviceMonitor.enabled=true --set crds.keep=false --set leaderElection.enabled=false
	$(HELM) lint --strict $(CHART_DIR) --set networkPolicy.enabled=true --set replicaCount=2
	$(HELM) lint --strict $(CHART_DIR) --set ftpd.podMonitor.enabled=true --set ftpd.podMonitor.labels.release=prom
	$(HELM) lint --strict $(CHART_DIR) --set grafanaDashboard.enabled=true --set grafanaDashboard.namespace=monitoring --set prometheusRule.enabled=true --set prometheusRule.labels.release=prom --set prometheusRule.poolFreeRatio=0.2
	$(HELM) lint --strict $(CHART_DIR) --set podDisruptionBudget.enabled=true --set 'watchNamespaces={team-a,team-b}' --set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh)" HELM=$(HELM) KUSTOMIZE=$(KUSTOMIZE) FTP_OPERATOR_BIN=$(BIN)/ftp-operator PACKAGING_TOOLS_REQUIRED=1 \
		go test -count=1 ./test/packaging/ ./hack/chartgen/ ./hack/apidocs/

.PHONY: test-imagepack
test-imagepack: helm ## Test the image packer (reproducible digest, loadable docker-archive, refuses non-static binaries, multi-arch layout and chart pushed to an in-process registry and pulled back).
	cd hack/imagepack && HELM=$(HELM) PACKAGING_TOOLS_REQUIRED=1 go test -count=1 ./...

.PHONY: helm
helm: $(HELM) ## Build Helm (HELM_VERSION) from the Go module proxy into bin/ (cached by version; cold about 2 min).
	@ln -sf $(notdir $(HELM)) $(BIN)/helm

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build kustomize (KUSTOMIZE_VERSION) from the Go module proxy into bin/ (cached by version).
	@ln -sf $(notdir $(KUSTOMIZE)) $(BIN)/kustomize

$(HELM):
	@mkdir -p $(BIN)/.helm-$(HELM_VERSION)
	GOBIN=$(BIN)/.helm-$(HELM_VERSION) go install -ldflags "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.helm-$(HELM_VERSION)/helm $(HELM) && rmdir $(BIN)/.helm-$(HELM_VERSION)

$(KUSTOMIZE):
	@mkdir -p $(BIN)/.kustomize-$(KUSTOMIZE_VERSION)
	GOBIN=$(BIN)/.kustomize-$(KUSTOMIZE_VERSION) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(BIN)/.kustomize-$(KUSTOMIZE_VERSION)/kustomize $(KUSTOMIZE) && rmdir $(BIN)/.kustomize-$(KUSTOMIZE_VERSION)

$(IMAGEPACK): hack/imagepack/go.mod hack/imagepack/go.sum $(wildcard hack/imagepack/*.go)
	cd hack/imagepack && CGO_ENABLED=0 go build -trimpath -o $(IMAGEPACK) .

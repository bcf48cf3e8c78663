// Package packaging holds the tests of what users install: the Helm chart and the kustomize config render, agree
// with each other and with the generated CRD and RBAC; the samples and every rendered object are accepted by a real
// kube-apiserver (envtest); the real manager binary runs under the chart's ServiceAccount and RBAC alone; and the
// FTPServer status reads correctly as kstatus (Flux) and through the Argo CD health script.
//
// The tests use Helm and kustomize built by `make helm kustomize` (bin/helm, bin/kustomize; or $HELM, $KUSTOMIZE),
// KUBEBUILDER_ASSETS for envtest and FTP_OPERATOR_BIN for the manager. Missing ones make those tests skip, unless
// PACKAGING_TOOLS_REQUIRED=1: `make test-packaging` provides everything and sets it.
package packaging

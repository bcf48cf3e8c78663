// Package packaging holds the tests of what users install: the Helm chart and the kustomize config render, agree
// with each other and with the generated CRD and RBAC, the samples are valid FTPServers, and the FTPServer status
// reads correctly as kstatus (the health model of Flux and kpt).
//
// The tests run Helm and kustomize built by `make helm kustomize` (bin/helm, bin/kustomize; or $HELM, $KUSTOMIZE).
// Without them the tests skip, unless PACKAGING_TOOLS_REQUIRED=1 (`make test-packaging` sets it).
package packaging

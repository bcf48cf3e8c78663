# Fault tests (issue 14): the manager as a real process against envtest, failed over, cut off from its API server
# and killed with SIGKILL while FTPServers are created and deleted. Not part of `make test` (about 3 minutes on
# two cores; each test starts its own API server). CI runs `make test-chaos`.

##@ Fault tests

.PHONY: test-chaos
test-chaos: envtest-assets ## Run the fault tests: leader failover, a 30 s API server outage and SIGKILL every 2 s during creates and deletes (~3 min).
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh)" \
		go test $(GO_TEST_FLAGS) -tags chaos -count=1 -timeout 8m -v ./test/chaos/

# End to end: a single-node Kubernetes built from source on this machine (hack/local-cluster), the operator
# installed by its Helm chart, MetalLB's controller as the load balancer, real FTP clients in network namespaces
# (test/e2e). Needs root on Debian 12; installs containerd, runc, the CNI plugins and iptables itself.
# E2E_USE_CURRENT_CONTEXT=1 runs against the current kubeconfig's cluster instead (see hack/local-cluster/e2e.sh).

LOCAL_CLUSTER := hack/local-cluster/cluster.sh
E2E_ENV = IMG=$(IMG) IMAGE_TAR=$(IMAGE_TAR) HELM=$(HELM)

##@ End to end

.PHONY: cluster-up
cluster-up: ## Start the local single-node cluster (first build of the Kubernetes binaries: 10-20 min; then about 15 s).
	$(LOCAL_CLUSTER) up
	@$(LOCAL_CLUSTER) env

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and restore the machine (processes, interfaces, iptables, mounts, sysctls).
	$(LOCAL_CLUSTER) down

.PHONY: cluster-status
cluster-status: ## Show the local cluster's daemons, node and pods.
	@$(LOCAL_CLUSTER) status

.PHONY: test-e2e
test-e2e: image helm test-clients seaweedfs-image ## End to end on a fresh local cluster (torn down afterwards): chart install, MetalLB, clients behind NAT.
	@$(E2E_ENV) hack/local-cluster/e2e.sh test

.PHONY: dev
dev: image helm ## Local cluster (kept running) + operator by its chart + a sample FTPServer; prints the endpoint and a curl line.
	@$(E2E_ENV) hack/local-cluster/e2e.sh dev

.PHONY: dev-down
dev-down: ## Remove what make dev set up (the whole local cluster) and leave the machine as it was.
	@$(E2E_ENV) hack/local-cluster/e2e.sh dev-down

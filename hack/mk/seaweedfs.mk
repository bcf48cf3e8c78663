# SeaweedFS (issue 12): a real S3 server for the engine's object-storage tests, built from the Go module proxy into
# bin/seaweedfs/<version>/weed by hack/seaweedfs.sh. test/support/seaweedfs finds it there (or in SEAWEEDFS_DIR).

TEST_EXTRA += seaweedfs

##@ Object storage

.PHONY: seaweedfs
seaweedfs: ## Build SeaweedFS (a real S3 server for the object-storage tests) into bin/seaweedfs (cold: about 3.5 min).
	@hack/seaweedfs.sh >/dev/null

.PHONY: seaweedfs-image
seaweedfs-image: $(IMAGEPACK) ## Pack weed into bin/seaweedfs/<version>/image.tar (once per version) for the e2e object-storage scenario.
	@IMAGEPACK=$(IMAGEPACK) hack/seaweedfs.sh image >/dev/null

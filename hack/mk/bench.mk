# Benchmarks (issue 6): the engine against vsftpd, pure-ftpd and proftpd, and the operator at scale.
# Not part of `make test`. Writes docs/benchmarks.md and docs/benchmarks.png.
# Our engine is bin/ftp-operator-ftpd (the -tags ftpdonly build the FTP pods run; make build makes it).
# Everything it runs lives under test/bench: harness/ (the command that starts the servers, measures and writes the
# page; install-servers.sh), the operator benchmarks (*_test.go, -tags bench) and notes.md (hand-written, appended).
# This file only runs them in order; docs/benchmarks.md ("Where it lives") says the same for readers.
#   BENCH_QUICK=1   a ~2-minute smoke run (smaller sizes, fewer repetitions)
#   BENCH_SIZE      RETR/STOR size (default 1G; accepts K/M/G), BENCH_REPS, BENCH_SESSIONS, BENCH_PAR_SIZE,
#   BENCH_IDLE      idle sessions for our engine (default 10000, bounded by RLIMIT_NOFILE), BENCH_IDLE_FORKING
#                   for process-per-session servers (default 1000, bounded by free PIDs)
#   BENCH_CURL_SMALL  small uploads in the single curl session (default 200; the Go client does all 1000)
#   BENCH_CURL_BATCH  files per curl batch (default 100): up and back down, each way in ONE curl command, EPSV and PASV;
#                   BENCH_CURL_BATCH_REPS repetitions (default 3, 1 with BENCH_QUICK; pure-ftpd and proftpd stall
#                   for minutes per repetition with curl 7.88)
#   Issue 10 rows need no setting: STOR to fresh names and over existing files (single and BENCH_SESSIONS parallel),
#   peak RSS/PSS of each server during the parallel load, and as the last phase 200 PASV sessions per server
#   (restarted with 100, then 16 passive ports).
#   BENCH_OPERATOR_SERVERS  FTPServers created in the operator benchmark (default 1000; 200 with BENCH_QUICK)
#   BENCH_OPERATOR_WORKERS  the reconciler's MaxConcurrentReconciles (default: the manager's, 16)
#   BENCH_UNRELATED_OBJECTS Secrets and as many ConfigMaps added for the operator memory row (default 10000)
#   BENCH_PROFILE_DIR       folder for CPU profiles of kube-apiserver and the operator during the FTPServer burst (kube-apiserver.pprof, operator.pprof)
#   BENCH_S3_REPS   repetitions of the object-storage section (issue 12; default 3, 1 with BENCH_QUICK); it uses
#                   BENCH_SIZE, BENCH_SESSIONS and BENCH_PAR_SIZE too. BENCH_ONLY=s3 runs only that section of the
#                   harness and prints it (no root, no peers: bin/bench --engine bin/ftp-operator);
#                   BENCH_S3_MEASURES=retr,stor,parretr,parstor (any of them) measures only those rows

BENCH_OUT ?= docs/benchmarks.md
BENCH_PNG ?= docs/benchmarks.png
BENCH_TMP := $(BIN)/bench-results

##@ Benchmarks

.PHONY: bench
bench: build envtest-assets metallb seaweedfs ## Benchmark the engine against vsftpd, pure-ftpd, proftpd and raw TCP (curl), and the operator on envtest; writes docs/benchmarks.md (BENCH_QUICK=1: ~10 min smoke run).
	@mkdir -p $(BENCH_TMP)
	test/bench/harness/install-servers.sh $(BIN)/bench-peers >/dev/null
	go test -run '^$$' -bench 'AllocateAsPoolFills' -benchtime $(if $(filter-out 0,$(BENCH_QUICK)),200ms,1s) -count 1 ./internal/portalloc/ | tee $(BENCH_TMP)/alloc.txt
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh)" METALLB_DIR="$$(hack/metallb.sh)" \
		BENCH_OPERATOR_OUT=$(BENCH_TMP)/operator.json FTP_OPERATOR_BIN=$(BIN)/ftp-operator \
		go test -tags bench -count 1 -timeout 10m -run . -v ./test/bench/ 2>&1 | tee $(BENCH_TMP)/operator.txt | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|RESULT' || true
	go build -o $(BIN)/bench ./test/bench/harness
	$(BIN)/bench --engine $(BIN)/ftp-operator-ftpd --peers $(BIN)/bench-peers/root \
		--operator $(BENCH_TMP)/operator.json --alloc $(BENCH_TMP)/alloc.txt --notes test/bench/notes.md \
		--out $(BENCH_OUT) --png $(BENCH_PNG)

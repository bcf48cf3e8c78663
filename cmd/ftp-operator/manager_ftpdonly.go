//go:build ftpdonly

package main

import (
	"context"
	"errors"
)

// runManager is not in an engine-only build: `go build -tags ftpdonly ./cmd/ftp-operator` makes the same command
// with only its ftpd subcommand, without the operator's packages (controller-runtime, client-go and the Kubernetes
// scheme), whose package initialisation alone more than doubled the engine's resident memory (docs/benchmarks.md).
func runManager(context.Context, []string) error {
	return errors.New("this build of ftp-operator holds only the ftpd subcommand (built with -tags ftpdonly)")
}

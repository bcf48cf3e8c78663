// Command ftp-operator is the operator and the FTP engine in one binary.
//
// TEMPORARY main.go written by the ftpd engineer so that the ftpd subcommand
// builds; the lead replaces it with the real dispatcher (manager, ftpd).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "ftpd" {
		fmt.Fprintln(os.Stderr, "usage: ftp-operator ftpd [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runFTPD(ctx, os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "ftpd:", err)
		os.Exit(1)
	}
}

// Command ftp-operator is the operator and the FTP engine in one binary:
//
//	ftp-operator manager [flags]   reconcile FTPServers
//	ftp-operator ftpd [flags]      serve FTP (what every FTPServer pod runs)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

const usage = `Usage: ftp-operator COMMAND [flags]

Commands:
  manager   run the operator (reconciles FTPServers)
  ftpd      run the FTP server engine
  version   print the version

Run 'ftp-operator COMMAND --help' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "manager":
		err = runManager(ctx, args)
	case "ftpd":
		err = runFTPD(ctx, args)
	case "version", "--version":
		fmt.Println(version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

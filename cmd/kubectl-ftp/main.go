// Command kubectl-ftp is a kubectl plugin for FTPServers of ftp-operator. Put it on PATH and run:
//
//	kubectl ftp status [NAME] [-n NS] [--json]
//	kubectl ftp check NAME --user U [-n NS] [--password-stdin] [--json] [--timeout 10s]
//
// status prints one table of each server's endpoint, passive ports, address and where it came from, and its
// conditions. check connects from this machine the way an FTP client does (banner, AUTH TLS, login, PASV and EPSV,
// a data connection to what the server advertised, LIST) and says which step failed and what to change.
// See docs/kubectl-ftp.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// version is set by make build (-X main.version).
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the check found a problem, or the API could not be read
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

const usage = `kubectl ftp: inspect and check FTPServers of ftp-operator.

Usage:
  kubectl ftp status [NAME] [-n NS] [--json]
  kubectl ftp check NAME --user U [-n NS] [--password-stdin] [--json] [--timeout 10s]
                    [--certificate-authority FILE] [--insecure-skip-tls-verify]
  kubectl ftp version

Common flags: --kubeconfig FILE, --context NAME, -n/--namespace NS.
`

// clientFactory builds the API client and names the default namespace; tests pass their own.
type clientFactory func(kubeconfig, kubecontext string) (client.Client, string, error)

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, newClient clientFactory) int {
	if newClient == nil {
		newClient = kubeClient
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	if sub == "version" {
		fmt.Fprintln(stdout, "kubectl-ftp", version)
		return exitOK
	}
	fs := flag.NewFlagSet("kubectl ftp "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var ns, kubeconfig, kubecontext string
	var asJSON bool
	fs.StringVar(&ns, "namespace", "", "namespace (default: the kubeconfig context's)")
	fs.StringVar(&ns, "n", "", "namespace (shorthand)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&kubecontext, "context", "", "kubeconfig context")
	fs.BoolVar(&asJSON, "json", false, "print a machine-readable result")
	var o checkOptions
	if sub == "check" {
		fs.StringVar(&o.User, "user", "", "FTP user to log in as (required)")
		fs.BoolVar(&o.PasswordStdin, "password-stdin", false, "read the password from the first line of stdin")
		fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on each connection and reply")
		fs.StringVar(&o.CAFile, "certificate-authority", "", "PEM file of CA certificates that verify the server's TLS certificate")
		fs.BoolVar(&o.Insecure, "insecure-skip-tls-verify", false, "do not verify the server's TLS certificate")
	} else if sub != "status" {
		fmt.Fprintf(stderr, "kubectl ftp: unknown command %q\n\n%s", sub, usage)
		return exitUsage
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}

	switch {
	case sub == "status" && len(pos) > 1:
		fmt.Fprintf(stderr, "kubectl ftp status takes at most one NAME\n\n%s", usage)
		return exitUsage
	case sub == "check" && (len(pos) != 1 || o.User == ""):
		fmt.Fprintf(stderr, "kubectl ftp check needs NAME and --user\n\n%s", usage)
		return exitUsage
	}

	c, defNS, err := newClient(kubeconfig, kubecontext)
	if err != nil {
		fmt.Fprintln(stderr, "kubectl ftp:", err)
		return exitFailed
	}
	if ns == "" {
		ns = defNS
	}

	switch sub {
	case "status":
		name := ""
		if len(pos) == 1 {
			name = pos[0]
		}
		rows, err := collectStatus(ctx, c, ns, name)
		if err != nil {
			fmt.Fprintln(stderr, "kubectl ftp:", err)
			return exitFailed
		}
		if asJSON {
			err = printStatusJSON(stdout, rows)
		} else if len(rows) == 0 {
			fmt.Fprintf(stderr, "No FTPServers in namespace %s.\n", ns)
		} else {
			err = printStatusTable(stdout, rows)
		}
		if err != nil {
			fmt.Fprintln(stderr, "kubectl ftp:", err)
			return exitFailed
		}
		return exitOK
	default: // check
		o.Namespace, o.Name = ns, pos[0]
		pw := passwordSource{stdin: stdin}
		if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			pw.terminal = func() (string, error) {
				fmt.Fprintf(stderr, "Password for %s: ", o.User)
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(stderr)
				return string(b), err
			}
		}
		res := runCheck(ctx, c, o, pw)
		if asJSON {
			_ = printCheckJSON(stdout, res)
		} else {
			printCheck(stdout, res)
		}
		if !res.OK {
			return exitFailed
		}
		return exitOK
	}
}

// parseInterspersed parses flags before and after positional arguments, as kubectl does
// (`kubectl ftp check NAME --user U`); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// kubeClient reads the kubeconfig the way kubectl does ($KUBECONFIG, ~/.kube/config, in-cluster).
func kubeClient(kubeconfig, kubecontext string) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubecontext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	return c, ns, err
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = ftpv1.AddToScheme(s)
	return s
}

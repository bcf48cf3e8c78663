//go:build e2e

// Package e2e runs the operator for real: its image imported into a cluster's container runtime, installed by
// its Helm chart, MetalLB's controller handing out load-balancer addresses, and real FTP clients (curl, lftp,
// Python ftplib) connecting from network namespaces the test creates, one of them behind a MASQUERADE NAT.
//
// `make test-e2e` brings up the single-node cluster of hack/local-cluster, runs these tests and tears the
// cluster down; hack/local-cluster/e2e.sh documents the environment variables. Run by hand:
//
//	go test -tags e2e -v ./test/e2e/   # with the E2E_* variables e2e.sh sets
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// config is read from the environment that hack/local-cluster/e2e.sh sets.
var config struct {
	kubeconfig   string
	image        string // repository:tag of the operator image, already importable from imageTar
	imageTar     string
	chart        string
	helm         string
	importCmd    string // command that loads an image tarball into the cluster's runtime; empty: already there
	metallb      string // MetalLB bundle (hack/local-cluster/metallb-bundle.sh); empty: the cluster has a load balancer
	lbRange      string // range of the IPAddressPool
	hostPathRoot string // folder on the (single) node for the hostPath PersistentVolume of scenario 9
	storageClass string // or a storage class for it, on a cluster of the user's
	release      string
	namespace    string
	seaweedfsTar string // SeaweedFS image tarball (hack/seaweedfs.sh image) for TestObjectStorage
	seaweedfs    string // its repository:tag; empty: TestObjectStorage skips
}

var (
	k8s       client.Client
	clientset *kubernetes.Clientset
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	config.kubeconfig = os.Getenv("E2E_KUBECONFIG")
	config.image = os.Getenv("E2E_IMAGE")
	config.imageTar = os.Getenv("E2E_IMAGE_TAR")
	config.chart = getenv("E2E_CHART", "../../charts/ftp-operator")
	config.helm = getenv("E2E_HELM", "helm")
	config.importCmd = os.Getenv("E2E_IMPORT")
	config.metallb = os.Getenv("E2E_METALLB_BUNDLE")
	config.lbRange = getenv("E2E_LB_RANGE", "10.201.0.10-10.201.0.250")
	config.hostPathRoot = os.Getenv("E2E_HOSTPATH_DIR")
	config.storageClass = os.Getenv("E2E_STORAGE_CLASS")
	config.release = getenv("E2E_RELEASE", "ftp-operator")
	config.namespace = getenv("E2E_NAMESPACE", "ftp-operator-system")
	config.seaweedfsTar = os.Getenv("E2E_SEAWEEDFS_TAR")
	config.seaweedfs = os.Getenv("E2E_SEAWEEDFS_IMAGE")
	if config.kubeconfig == "" || config.image == "" {
		fmt.Fprintln(os.Stderr, "e2e: E2E_KUBECONFIG and E2E_IMAGE are required; run `make test-e2e` (hack/local-cluster/e2e.sh)")
		return 2
	}
	if err := connect(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := install(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup:", err)
		diagnostics()
		return 1
	}
	if err := setupNetwork(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: client network namespaces:", err)
		teardownNetwork()
		return 1
	}
	fmt.Printf("e2e: setup (images, MetalLB, operator chart, client namespaces) took %s\n", time.Since(t0).Round(100*time.Millisecond))
	code := m.Run()
	if code != 0 {
		diagnostics()
	}
	teardownNetwork()
	if out, err := command(context.Background(), 3*time.Minute, config.helm, "--kubeconfig", config.kubeconfig,
		"uninstall", config.release, "-n", config.namespace, "--wait", "--timeout", "2m"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: helm uninstall: %v\n%s\n", err, out)
	}
	return code
}

func connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", config.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", config.kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := ftpv1.AddToScheme(scheme); err != nil {
		return err
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	clientset, err = kubernetes.NewForConfig(cfg)
	return err
}

// command runs name with args (bounded by timeout) and returns its combined output.
func command(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

func kubectl(ctx context.Context, args ...string) (string, error) {
	return command(ctx, 3*time.Minute, "kubectl", append([]string{"--kubeconfig", config.kubeconfig}, args...)...)
}

// install loads the images, installs MetalLB's controller with an address pool, and the operator with its chart.
func install(ctx context.Context) error {
	step := func(what string, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fmt.Printf("e2e: %s (%s)\n", what, time.Since(t).Round(100*time.Millisecond))
		return nil
	}
	if config.importCmd != "" {
		tars := []string{config.imageTar}
		if config.metallb != "" {
			tars = append(tars, filepath.Join(config.metallb, "image.tar"))
		}
		if config.seaweedfsTar != "" {
			tars = append(tars, config.seaweedfsTar)
		}
		for _, tar := range tars {
			if err := step("imported "+filepath.Base(tar), func() error {
				f := strings.Fields(config.importCmd)
				out, err := command(ctx, 3*time.Minute, f[0], append(f[1:], tar)...)
				if err != nil {
					return fmt.Errorf("%w\n%s", err, out)
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	if config.metallb != "" {
		if err := step("MetalLB controller installed with an IPAddressPool "+config.lbRange, func() error {
			if out, err := kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-k", config.metallb); err != nil {
				return fmt.Errorf("%w\n%s", err, out)
			}
			if out, err := kubectl(ctx, "-n", "metallb-system", "rollout", "status", "deployment/controller", "--timeout=120s"); err != nil {
				return fmt.Errorf("%w\n%s", err, out)
			}
			pool := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "metallb.io/v1beta1",
				"kind":       "IPAddressPool",
				"metadata":   map[string]any{"name": "e2e", "namespace": "metallb-system"},
				"spec":       map[string]any{"addresses": []any{config.lbRange}},
			}}
			return k8s.Patch(ctx, pool, client.Apply, client.FieldOwner("ftp-operator-e2e"), client.ForceOwnership)
		}); err != nil {
			return err
		}
	}
	return step("operator installed by its Helm chart ("+config.image+")", func() error { return installChart(ctx) })
}

// installChart installs (or upgrades back to) the operator's release with the suite's values: the image under
// test, never pulled when the test imports it.
func installChart(ctx context.Context) error {
	i := strings.LastIndex(config.image, ":")
	if i < 0 || strings.Contains(config.image[i:], "/") {
		return fmt.Errorf("E2E_IMAGE %q: want repository:tag", config.image)
	}
	repo, tag := config.image[:i], config.image[i+1:]
	pull := "Never"
	if config.importCmd == "" {
		pull = "IfNotPresent"
	}
	out, err := command(ctx, 5*time.Minute, config.helm, "--kubeconfig", config.kubeconfig,
		"upgrade", "--install", config.release, config.chart, "-n", config.namespace, "--create-namespace",
		"--set", "image.repository="+repo, "--set", "image.tag="+tag,
		"--set", "image.pullPolicy="+pull, "--set", "ftpd.image.pullPolicy="+pull,
		"--wait", "--timeout", "3m")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// diagnostics prints what helps most when a scenario failed: every object, the operator's log, events.
func diagnostics() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"get", "nodes,pods,services,ftpservers,pvc,pv", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"-n", config.namespace, "logs", "-l", "app.kubernetes.io/name=ftp-operator", "--tail=200"},
		{"-n", "metallb-system", "logs", "deployment/controller", "--tail=50"},
	} {
		out, _ := kubectl(ctx, args...)
		fmt.Printf("--- kubectl %s\n%s\n", strings.Join(args, " "), out)
	}
}

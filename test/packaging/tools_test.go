package packaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Names shared by the chart (release ftp-operator in ftp-operator-system) and config/default.
const (
	release   = "ftp-operator"
	namespace = "ftp-operator-system"
	crdName   = "ftpservers.ftpoperator.io"
)

// root is the repository's top folder.
func root(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// tool finds a binary from $env, else bin/<name> of the repository.
func tool(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p := filepath.Join(root(t), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("PACKAGING_TOOLS_REQUIRED") == "1" {
		t.Fatalf("%s not found: set $%s or run make %s", name, env, name)
	}
	t.Skipf("%s not found (run make %s, or set $%s)", name, name, env)
	return ""
}

// requiredEnv returns $name. Without it the test is skipped, or fails under make test-packaging
// (PACKAGING_TOOLS_REQUIRED=1), which sets it.
func requiredEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("PACKAGING_TOOLS_REQUIRED") == "1" {
			t.Fatalf("%s is not set (make test-packaging sets it)", name)
		}
		t.Skipf("%s is not set: run make test-packaging", name)
	}
	return v
}

// run executes a tool in the repository and returns its stdout; a failure ends the test with stderr.
func run(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	out, err := runErr(t, bin, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return out
}

func runErr(t *testing.T, bin string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = root(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Keep Helm away from any kubeconfig or repository cache of the machine.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+filepath.Join(home, "none"),
		"HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), errors.New(err.Error() + ": " + stderr.String())
	}
	return stdout.Bytes(), nil
}

// helmTemplate renders the chart as release ftp-operator in ftp-operator-system with extra flags.
func helmTemplate(t *testing.T, flags ...string) []unstructured.Unstructured {
	t.Helper()
	helm := tool(t, "HELM", "helm")
	args := append([]string{"template", release, "charts/ftp-operator", "--namespace", namespace}, flags...)
	return decode(t, run(t, helm, args...))
}

// kustomizeBuild renders a kustomization folder (relative to the repository).
func kustomizeBuild(t *testing.T, dir string) []unstructured.Unstructured {
	t.Helper()
	return decode(t, run(t, tool(t, "KUSTOMIZE", "kustomize"), "build", dir))
}

// decode splits a multi-document YAML stream into objects, skipping empty documents.
func decode(t *testing.T, b []byte) []unstructured.Unstructured {
	t.Helper()
	var objs []unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var m map[string]any
		err := d.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decoding rendered YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, unstructured.Unstructured{Object: m})
	}
}

// find returns the one object of kind and name, failing the test if there is none.
func find(t *testing.T, objs []unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for i := range objs {
		if objs[i].GetKind() == kind && objs[i].GetName() == name {
			return &objs[i]
		}
	}
	t.Fatalf("no %s %q among %v", kind, name, ids(objs))
	return nil
}

func has(objs []unstructured.Unstructured, kind, name string) bool {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return true
		}
	}
	return false
}

// ids lists kind/namespace/name of every object.
func ids(objs []unstructured.Unstructured) []string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	return s
}

// field returns the JSON of a nested field, for byte-wise comparison.
func field(t *testing.T, o *unstructured.Unstructured, path ...string) []byte {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s %s: no field %v (%v)", o.GetKind(), o.GetName(), path, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readYAML decodes a file of the repository.
func readYAML(t *testing.T, rel string) []unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, b)
}

package packaging

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// installYAML renders the release's install.yaml as make release does.
func installYAML(t *testing.T, image string) []unstructured.Unstructured {
	t.Helper()
	return decode(t, run(t, "hack/install-yaml.sh", tool(t, "KUSTOMIZE", "kustomize"), image))
}

// TestInstallYAML: one file holds the CRD, the RBAC and the Deployment of config/default, with the image of the
// manager and of the FTP server pods set to the release's.
func TestInstallYAML(t *testing.T) {
	const image = "registry.example:5000/ftp-operator:v9.9.9"
	objs := installYAML(t, image)
	kust := kustomizeBuild(t, "config/default")
	got, want := ids(objs), ids(kust)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("install.yaml has\n  %v\nconfig/default\n  %v", got, want)
	}
	for _, k := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ServiceAccount", "Deployment", "Namespace"} {
		if !has(objs, k, "") {
			t.Errorf("install.yaml has no %s", k)
		}
	}
	c := container(t, find(t, objs, "Deployment", release+"-controller-manager"))
	if c["image"] != image {
		t.Errorf("manager image %v, want %s", c["image"], image)
	}
	for _, e := range c["env"].([]any) {
		if m := e.(map[string]any); m["name"] == "FTPD_IMAGE" && m["value"] != image {
			t.Errorf("FTPD_IMAGE %v, want %s", m["value"], image)
		}
	}
	if _, err := runErr(t, "hack/install-yaml.sh", tool(t, "KUSTOMIZE", "kustomize"), "registry.example:5000/ftp-operator"); err == nil {
		t.Errorf("an image without a tag was accepted")
	}
}

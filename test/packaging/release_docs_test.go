package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestReleaseMetadata: the LICENSE is the Apache-2.0 text, the CHANGELOG keeps an Unreleased section, and the
// chart's Artifact Hub annotations parse and agree with the chart.
func TestReleaseMetadata(t *testing.T) {
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root(t), rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lic := read("LICENSE")
	for _, w := range []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
		"9. Accepting Warranty or Additional Liability.", "END OF TERMS AND CONDITIONS"} {
		if !strings.Contains(lic, w) {
			t.Errorf("LICENSE lacks %q", w)
		}
	}
	if cl := read("CHANGELOG.md"); !strings.Contains(cl, "## [Unreleased]") || !strings.Contains(cl, "keepachangelog.com") {
		t.Errorf("CHANGELOG.md has no Keep a Changelog Unreleased section")
	}

	var chart struct {
		Version     string            `json:"version"`
		AppVersion  string            `json:"appVersion"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.Unmarshal([]byte(read("charts/ftp-operator/Chart.yaml")), &chart); err != nil {
		t.Fatal(err)
	}
	ann := chart.Annotations
	if ann["artifacthub.io/license"] != "Apache-2.0" || ann["artifacthub.io/operator"] != "true" {
		t.Errorf("license or operator annotation: %v", ann)
	}
	var images []struct{ Name, Image string }
	if err := yaml.Unmarshal([]byte(ann["artifacthub.io/images"]), &images); err != nil || len(images) != 1 {
		t.Fatalf("artifacthub.io/images: %v %v", images, err)
	}
	if !strings.HasSuffix(images[0].Image, ":"+chart.AppVersion) {
		t.Errorf("artifacthub.io/images lists %s, want the appVersion %s", images[0].Image, chart.AppVersion)
	}
	var crds []struct{ Kind, Version, Name string }
	if err := yaml.Unmarshal([]byte(ann["artifacthub.io/crds"]), &crds); err != nil || len(crds) != 1 || crds[0].Name != crdName {
		t.Errorf("artifacthub.io/crds: %v %v", crds, err)
	}
	var examples []map[string]any
	if err := yaml.Unmarshal([]byte(ann["artifacthub.io/crdsExamples"]), &examples); err != nil || len(examples) != 1 {
		t.Fatalf("artifacthub.io/crdsExamples: %v", err)
	}
	// The example is the FTPServer of the NodePort sample (which the API server test accepts).
	samples := readYAML(t, "config/samples/ftpserver_nodeport.yaml")
	sample := find(t, samples, "FTPServer", "ftp-nodeport")
	ex := unstructured.Unstructured{Object: examples[0]}
	if string(field(t, &ex, "spec")) != string(field(t, sample, "spec")) {
		t.Errorf("artifacthub.io/crdsExamples differs from config/samples/ftpserver_nodeport.yaml")
	}
	for _, k := range []string{"artifacthub.io/links", "artifacthub.io/changes"} {
		var l []map[string]string
		if err := yaml.Unmarshal([]byte(ann[k]), &l); err != nil || len(l) == 0 {
			t.Errorf("%s: %v", k, err)
		}
	}
}

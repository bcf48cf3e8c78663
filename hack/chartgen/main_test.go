package main

import (
	"reflect"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

const crdSrc = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.23.0
  name: widgets.example.io
spec:
  group: example.io
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        description: 'A template-looking text {{ .Values.oops }} stays text.'
        type: object
`

// render executes a generated template the way Helm would, with include/nindent reduced to what chartgen uses.
func render(t *testing.T, tpl string, values map[string]any) string {
	t.Helper()
	funcs := template.FuncMap{
		"include": func(name string, _ any) string {
			switch name {
			case "ftp-operator.labels":
				return "app.kubernetes.io/name: ftp-operator"
			case "ftp-operator.fullname":
				return "rel"
			}
			t.Fatalf("unexpected include %q", name)
			return ""
		},
		"nindent": func(n int, s string) string { return "\n" + strings.Repeat(" ", n) + s },
	}
	tmpl, err := template.New("x").Funcs(funcs).Parse(tpl)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, tpl)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, map[string]any{"Values": values}); err != nil {
		t.Fatalf("execute: %v", err)
	}
	return b.String()
}

func TestCRDTemplate(t *testing.T) {
	tpl, err := CRDTemplate([]byte(crdSrc), "config/crd/bases/widgets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var src map[string]any
	if err := yaml.Unmarshal([]byte(crdSrc), &src); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		enabled, keep bool
	}{{"enabled, kept", true, true}, {"enabled, not kept", true, false}, {"disabled", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, string(tpl), map[string]any{"crds": map[string]any{"enabled": tc.enabled, "keep": tc.keep}})
			var got map[string]any
			if err := yaml.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not YAML: %v\n%s", err, out)
			}
			if !tc.enabled {
				if len(got) != 0 {
					t.Fatalf("crds.enabled=false rendered %v", got)
				}
				return
			}
			if !reflect.DeepEqual(got["spec"], src["spec"]) {
				t.Errorf("spec changed:\n%s", out)
			}
			md := got["metadata"].(map[string]any)
			ann := md["annotations"].(map[string]any)
			if _, ok := ann["helm.sh/resource-policy"]; ok != tc.keep {
				t.Errorf("resource-policy present=%v, want %v:\n%s", ok, tc.keep, out)
			}
			if ann["controller-gen.kubebuilder.io/version"] != "v0.23.0" || md["name"] != "widgets.example.io" {
				t.Errorf("metadata lost: %v", md)
			}
			if md["labels"].(map[string]any)["app.kubernetes.io/name"] != "ftp-operator" {
				t.Errorf("labels missing: %v", md)
			}
		})
	}
}

func TestCRDTemplateWithoutAnnotations(t *testing.T) {
	src := strings.Replace(crdSrc, "  annotations:\n    controller-gen.kubebuilder.io/version: v0.23.0\n", "", 1)
	tpl, err := CRDTemplate([]byte(src), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, string(tpl), map[string]any{"crds": map[string]any{"enabled": true, "keep": true}})
	if !strings.Contains(out, "  annotations:\n    helm.sh/resource-policy: keep\n") {
		t.Errorf("keep annotation not added:\n%s", out)
	}
}

func TestClusterRoleTemplate(t *testing.T) {
	src := `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: manager-role
rules:
- apiGroups:
  - ftpoperator.io
  resources:
  - ftpservers
  verbs:
  - get
  - list
`
	tpl, err := ClusterRoleTemplate([]byte(src), "config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := yaml.Unmarshal([]byte(src), &want); err != nil {
		t.Fatal(err)
	}
	out := render(t, string(tpl), map[string]any{"rbac": map[string]any{"create": true}})
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(got["rules"], want["rules"]) {
		t.Errorf("rules changed:\n%s", out)
	}
	if name := got["metadata"].(map[string]any)["name"]; name != "rel-manager-role" {
		t.Errorf("name %v", name)
	}
	if out := render(t, string(tpl), map[string]any{"rbac": map[string]any{"create": false}}); strings.TrimSpace(out) != "" {
		t.Errorf("rbac.create=false rendered:\n%s", out)
	}
}

func TestRefusesUnexpectedInput(t *testing.T) {
	for name, tc := range map[string]struct {
		f   func([]byte, string) ([]byte, error)
		src string
	}{
		"role as CRD":         {CRDTemplate, "kind: ClusterRole\nmetadata:\n  name: x\n"},
		"two documents":       {CRDTemplate, crdSrc + "---\n" + crdSrc},
		"labels already set":  {CRDTemplate, strings.Replace(crdSrc, "  name: widgets", "  labels:\n    a: b\n  name: widgets", 1)},
		"CRD as role":         {ClusterRoleTemplate, crdSrc},
		"another role":        {ClusterRoleTemplate, "kind: ClusterRole\nmetadata:\n  name: other\nrules: []\n"},
		"a namespaced Role":   {ClusterRoleTemplate, "kind: Role\nmetadata:\n  name: manager-role\nrules: []\n"},
		"role with two roles": {ClusterRoleTemplate, "kind: ClusterRole\nmetadata:\n  name: manager-role\nrules: []\n---\nkind: Role\n"},
	} {
		if _, err := tc.f([]byte(tc.src), "x"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

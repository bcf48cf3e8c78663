package main

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.io
spec:
  group: example.io
  names: {kind: Widget, plural: widgets, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: Widget does things.
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: integer
                format: int32
                minimum: 1
                maximum: 9
                description: size of the widget.
              mode:
                type: string
                enum: [Fast, Slow]
                default: Fast
                description: mode | speed.
              parts:
                type: array
                maxItems: 3
                items:
                  type: object
                  x-kubernetes-validations:
                  - rule: self.a != ''
                    message: a must be set
                  properties:
                    a: {type: string, maxLength: 5}
  - name: v0
    served: false
    storage: false
    schema:
      openAPIV3Schema: {type: object, description: must not appear}
`

func TestMarkdown(t *testing.T) {
	var c apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict([]byte(crd), &c); err != nil {
		t.Fatal(err)
	}
	md := Markdown([]apiextensionsv1.CustomResourceDefinition{c})
	for _, want := range []string{
		"## Widget\n",
		"| API version | `example.io/v1` |",
		"| Short names | `wd` |",
		"Widget does things.",
		"### `spec`\n",
		"| `size` | integer (int32) | size of the widget. **Required.** Range: ≥ 1, ≤ 9. |",
		"| `mode` | string | mode \\| speed. Default: `\"Fast\"`. One of: `Fast`, `Slow`. |",
		"| `parts` | [[]object](#specparts) | Max items: 3. |",
		"### `spec.parts[]`\n",
		"- Rule: `self.a != ''` — a must be set",
		"| `a` | string | Max length: 5. |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	if strings.Contains(md, "must not appear") {
		t.Errorf("an unserved version was documented")
	}
	// Fields are sorted, so the output does not depend on map order.
	if strings.Index(md, "| `mode`") > strings.Index(md, "| `size`") {
		t.Errorf("fields not sorted")
	}
}

func TestPlaceholdersAreEscaped(t *testing.T) {
	if got := oneLine("a claim named <server>-data, see `a <= b`"); got != "a claim named &lt;server&gt;-data, see `a <= b`" {
		t.Errorf("oneLine = %q", got)
	}
}

func TestAnchorMatchesHeading(t *testing.T) {
	if got := anchor("spec.users[].passwordSecretRef"); got != "specuserspasswordsecretref" {
		t.Errorf("anchor = %q", got)
	}
}

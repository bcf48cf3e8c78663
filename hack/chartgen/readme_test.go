package main

import (
	"os"
	"strings"
	"testing"
)

func TestValuesTable(t *testing.T) {
	values := `# Values of a chart.

# -- The image.
image:
  repository: example/x
  # -- Defaults to the appVersion;
  # continued on a second line.
  tag: ""
undocumented:
  leaf: 3
  list: [a, b]
# a plain comment, not a description
plain: true
# -- A pipe | and <angle>.
empty: {}
`
	rows, err := ValuesTable([]byte(values))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Key+" "+r.Type+" "+r.Default+" "+r.Description)
	}
	want := []string{
		`image object {"repository":"example/x","tag":""} The image.`,
		`image.tag string "" Defaults to the appVersion; continued on a second line.`,
		`undocumented.leaf int 3 `,
		`undocumented.list list ["a","b"] `,
		`plain bool true `,
		`empty object {} A pipe | and <angle>.`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	readme := "# Chart\n\n" + readmeBegin + "\nstale\n" + readmeEnd + "\n\nafter\n"
	out, err := ReadmeWithValues([]byte(readme), []byte(values))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, w := range []string{"# Chart\n\n", "| `empty` | object | `{}` | A pipe \\| and &lt;angle&gt;. |", readmeEnd + "\n\nafter\n"} {
		if !strings.Contains(s, w) {
			t.Errorf("README lacks %q:\n%s", w, s)
		}
	}
	if strings.Contains(s, "stale") {
		t.Errorf("the old table was kept:\n%s", s)
	}
	if _, err := ReadmeWithValues([]byte("# no markers\n"), []byte(values)); err == nil {
		t.Errorf("a README without markers was accepted")
	}
}

// TestChartReadmeIsCurrent: the chart's README holds the table its values.yaml generates (make chart).
func TestChartReadmeIsCurrent(t *testing.T) {
	values, err := os.ReadFile("../../charts/ftp-operator/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile("../../charts/ftp-operator/README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadmeWithValues(cur, values)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(cur) {
		t.Errorf("charts/ftp-operator/README.md is out of date: run make chart")
	}
	for _, key := range []string{"`global`", "`watchNamespaces`", "`image.digest`", "`podDisruptionBudget.enabled`"} {
		if !strings.Contains(string(cur), "| "+key+" |") {
			t.Errorf("README does not document %s", key)
		}
	}
}

// Command render renders a Helm chart's templates the way `helm template`
// does, for machines without helm: the same template engine (Go's
// text/template with sprig v3, as Debian packages it) and Helm's own
// functions (include, tpl, required, toYaml, fromYaml, toJson, fromJson,
// lookup), the chart's values.yaml with -f overlays coalesced over it, and
// .Release, .Chart, .Capabilities and .Template filled in.
//
//	render -chart helm/youma [-f overlay.yaml]... [-name youma] [-namespace youma] [-notes]
//
// It prints every rendered manifest after a "# Source:" line, as helm does
// (with -notes, the rendered NOTES.txt instead),
// and exits 1 with helm's kind of message when a template fails (a
// `required` value missing, a `fail`, a parse error). It does not validate
// values against values.schema.json (tests/helm/validate-values.js does) nor
// talk to a cluster.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

type overlays []string

func (o *overlays) String() string     { return strings.Join(*o, ",") }
func (o *overlays) Set(v string) error { *o = append(*o, v); return nil }

// Helm's Capabilities.APIVersions: .Has "group/version" or "group/version/Kind".
type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(js, &out); err != nil {
		return nil, fmt.Errorf("%s: not a map of values: %v", file, err)
	}
	if out == nil {
		out = map[string]interface{}{}
	}
	return out, nil
}

// coalesce merges user values over the chart's, as helm does: maps key by
// key, a null removes the key, anything else replaces.
func coalesce(base, over map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = coalesce(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func main() {
	chartDir := flag.String("chart", "", "the chart's folder")
	name := flag.String("name", "youma", "release name")
	namespace := flag.String("namespace", "youma", "release namespace")
	kubeVersion := flag.String("kube-version", "1.30.0", "Kubernetes version for .Capabilities")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	var files overlays
	flag.Var(&files, "f", "values file merged over values.yaml (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fmt.Fprintln(os.Stderr, "render: -chart is required")
		os.Exit(2)
	}
	if err := run(*chartDir, *name, *namespace, *kubeVersion, files, *notes); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run(chartDir, name, namespace, kubeVersion string, files []string, notes bool) error {
	meta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chart := map[string]interface{}{}
	for k, v := range meta {
		// Helm exposes Chart.yaml's fields capitalised: .Chart.Name, .Chart.AppVersion.
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	chartName, _ := chart["Name"].(string)
	if want, ok := chart["KubeVersion"].(string); ok && want != "" {
		c, err := semver.NewConstraint(want)
		if err != nil {
			return fmt.Errorf("Chart.yaml kubeVersion %q: %v", want, err)
		}
		if !c.Check(semver.MustParse(kubeVersion)) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes v%s", want, kubeVersion)
		}
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		over, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		values = coalesce(values, over)
	}
	kv := semver.MustParse(kubeVersion)
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v" + kubeVersion, "GitVersion": "v" + kubeVersion,
				"Major": fmt.Sprint(kv.Major()), "Minor": fmt.Sprint(kv.Minor()),
			},
			"APIVersions": apiVersions{"v1", "apps/v1", "batch/v1", "policy/v1",
				"autoscaling/v2", "networking.k8s.io/v1"},
		},
	}

	var names []string
	sources := map[string]string{}
	tdir := filepath.Join(chartDir, "templates")
	err = filepath.Walk(tdir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tdir, p)
		tname := path.Join(chartName, "templates", filepath.ToSlash(rel))
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		names = append(names, tname)
		sources[tname] = string(data)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)

	t := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	depth := map[string]int{}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if depth[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		depth[name]++
		defer func() { depth[name]-- }()
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		tt, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = tt.Execute(&buf, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	t.Funcs(funcs)
	for _, n := range names {
		if _, err := t.New(n).Parse(sources[n]); err != nil {
			return fmt.Errorf("parse error in %s", strings.TrimPrefix(err.Error(), "template: "))
		}
	}

	var out, notesText bytes.Buffer
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": path.Join(chartName, "templates")}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, n, data); err != nil {
			return fmt.Errorf("execution error at (%s", strings.TrimPrefix(err.Error(), "template: "))
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			notesText.WriteString(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if !strings.HasPrefix(strings.TrimLeft(text, "\n"), "---") {
			text = "---\n" + strings.TrimLeft(text, "\n")
		}
		// One "# Source:" line before each document, as helm prints them.
		for _, doc := range strings.Split(strings.TrimLeft(text, "\n"), "---\n") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s", n, strings.TrimLeft(doc, "\n"))
			if !strings.HasSuffix(doc, "\n") {
				out.WriteString("\n")
			}
		}
	}
	if notes {
		_, err = os.Stdout.Write(notesText.Bytes())
	} else {
		_, err = os.Stdout.Write(out.Bytes())
	}
	return err
}

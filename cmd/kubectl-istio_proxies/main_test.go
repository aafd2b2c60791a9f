package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// runCmd runs the command with args and stdin and returns its outputs.
func runCmd(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	g := NewWithT(t)

	code, stdout, stderr := runCmd("", "help")
	g.Expect(code).To(Equal(0))
	g.Expect(stdout).To(ContainSubstring("inspect"))
	g.Expect(stderr).To(BeEmpty())

	code, stdout, stderr = runCmd("")
	g.Expect(code).To(Equal(1))
	g.Expect(stdout).To(BeEmpty())
	g.Expect(stderr).To(ContainSubstring("Usage:"))

	code, _, stderr = runCmd("", "frobnicate")
	g.Expect(code).To(Equal(1))
	g.Expect(stderr).To(HavePrefix(`error: unknown command "frobnicate"`))

	code, stdout, stderr = runCmd("", "inspect", "-h")
	g.Expect(code).To(Equal(0))
	g.Expect(stdout).To(ContainSubstring("--module-version X.Y.Z"))
	g.Expect(stdout).To(ContainSubstring("-compatibility-mode"))
	g.Expect(stderr).To(BeEmpty())
}

func TestInspectTable(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("", "inspect", "-f", "testdata/workloads.yaml", "--module-version", "1.30.0")
	g.Expect(stderr).To(BeEmpty())
	g.Expect(code).To(Equal(0))
	want := `KIND         NAMESPACE   NAME               LAYOUT    IMAGE                                            VERSION   EXPECTED   STALE   REASONS
Pod          shop        cart-7d9f8-abcde   regular   docker.io/istio/proxyv2:1.26.4                   1.26.4    native     yes     regular, expected native; 1.26.4, expected 1.30.2
Deployment   shop        checkout           regular   gcr.io/istio-release/proxyv2:1.30.2-distroless   1.30.2    regular    no      -
Job          shop        report             native    docker.io/istio/proxyv2:1.30.2                   1.30.2    native     no      -
`
	g.Expect(stdout).To(Equal(want))
}

func TestInspectJSON(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("", "inspect", "-f", "testdata/list.json", "-o", "json",
		"--istio-version", "1.27.3", "--default-type", "regular")
	g.Expect(stderr).To(BeEmpty())
	g.Expect(code).To(Equal(0))

	// Exactly these keys, with these types.
	var generic []map[string]any
	g.Expect(json.Unmarshal([]byte(stdout), &generic)).To(Succeed())
	g.Expect(generic).To(HaveLen(2))
	for _, obj := range generic {
		g.Expect(obj).To(HaveLen(9))
		g.Expect(obj).To(HaveKey("kind"))
		g.Expect(obj).To(HaveKey("namespace"))
		g.Expect(obj).To(HaveKey("name"))
		g.Expect(obj).To(HaveKey("layout"))
		g.Expect(obj).To(HaveKey("image"))
		g.Expect(obj).To(HaveKey("version"))
		g.Expect(obj).To(HaveKey("expectedType"))
		g.Expect(obj["stale"]).To(BeAssignableToTypeOf(true))
		g.Expect(obj["reasons"]).To(BeAssignableToTypeOf([]any{}))
	}

	var rows []row
	g.Expect(json.Unmarshal([]byte(stdout), &rows)).To(Succeed())
	g.Expect(rows).To(Equal([]row{
		{
			Kind: "Deployment", Namespace: "istio-system", Name: "istio-ingressgateway",
			Layout: "gateway", Image: "docker.io/istio/proxyv2:1.26.4", Version: "1.26.4",
			Reasons: []string{},
		},
		{
			Kind: "StatefulSet", Namespace: "shop", Name: "db",
			Layout: "native", Image: "registry.example.com/mesh/proxy:1.24.0", Version: "1.24.0",
			ExpectedType: "regular", Stale: true, Reasons: []string{"native, expected regular"},
		},
	}))
}

func TestInspectStdinAndTargets(t *testing.T) {
	manifest, err := os.ReadFile("testdata/workloads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		// stale per object: Pod cart, Deployment checkout, Job report
		wantStale   []bool
		wantReasons [][]string
	}{
		{
			name:        "this build by default",
			args:        nil,
			wantStale:   []bool{true, false, false},
			wantReasons: [][]string{{"regular, expected native", "1.26.4, expected 1.30.2"}, {}, {}},
		},
		{
			name:        "module 1.20.0: everything regular on Istio 1.26.1",
			args:        []string{"--module-version", "1.20.0"},
			wantStale:   []bool{true, true, true},
			wantReasons: [][]string{{"1.26.4, expected 1.26.1"}, {"1.30.2, expected 1.26.1"}, {"native, expected regular", "1.30.2, expected 1.26.1"}},
		},
		{
			name:        "module 1.22 in compatibility mode: regular",
			args:        []string{"--module-version", "1.22.0", "--compatibility-mode"},
			wantStale:   []bool{true, true, true},
			wantReasons: [][]string{{"1.26.4, expected 1.27.1"}, {"1.30.2, expected 1.27.1"}, {"native, expected regular", "1.30.2, expected 1.27.1"}},
		},
		{
			name:        "module 1.25.0: Istio 1.28.2, native",
			args:        []string{"--module-version", "1.25.0"},
			wantStale:   []bool{true, true, true},
			wantReasons: [][]string{{"regular, expected native", "1.26.4, expected 1.28.2"}, {"1.30.2, expected 1.28.2"}, {"1.30.2, expected 1.28.2"}},
		},
		{
			name:        "module 1.23.3 in compatibility mode: Istio 1.27.4, regular",
			args:        []string{"--module-version", "1.23.3", "--compatibility-mode"},
			wantStale:   []bool{true, true, true},
			wantReasons: [][]string{{"1.26.4, expected 1.27.4"}, {"1.30.2, expected 1.27.4"}, {"native, expected regular", "1.30.2, expected 1.27.4"}},
		},
		{
			name:        "old kubelet forces regular",
			args:        []string{"--module-version", "1.30.0", "--min-kubelet-version", "v1.28.3"},
			wantStale:   []bool{true, false, true},
			wantReasons: [][]string{{"1.26.4, expected 1.30.2"}, {}, {"native, expected regular"}},
		},
		{
			name:        "explicit target",
			args:        []string{"--istio-version", "1.26.4", "--default-type", "regular"},
			wantStale:   []bool{false, true, true},
			wantReasons: [][]string{{}, {"1.30.2, expected 1.26.4"}, {"native, expected regular", "1.30.2, expected 1.26.4"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			args := append([]string{"inspect", "-f", "-", "-o", "json"}, tt.args...)
			code, stdout, stderr := runCmd(string(manifest), args...)
			g.Expect(stderr).To(BeEmpty())
			g.Expect(code).To(Equal(0))
			var rows []row
			g.Expect(json.Unmarshal([]byte(stdout), &rows)).To(Succeed())
			g.Expect(rows).To(HaveLen(3))
			for i, r := range rows {
				g.Expect(r.Stale).To(Equal(tt.wantStale[i]), r.Name)
				g.Expect(r.Reasons).To(Equal(tt.wantReasons[i]), r.Name)
			}
		})
	}
}

func TestInspectInputForms(t *testing.T) {
	pod := func(name string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","namespace":"ns"},` +
			`"spec":{"containers":[{"name":"app","image":"app:1"},{"name":"istio-proxy","image":"istio/proxyv2:1.30.2"}]}}`
	}
	tests := []struct {
		name      string
		input     string
		wantNames []string
	}{
		{name: "empty input", input: "", wantNames: nil},
		{name: "only separators and comments", input: "---\n# nothing\n---\n", wantNames: nil},
		{name: "one JSON object", input: pod("a"), wantNames: []string{"a"}},
		{name: "JSON stream", input: pod("a") + "\n" + pod("b"), wantNames: []string{"a", "b"}},
		{name: "YAML documents of JSON", input: pod("a") + "\n---\n" + pod("b") + "\n---\n", wantNames: []string{"a", "b"}},
		{name: "List", input: `{"apiVersion":"v1","kind":"List","items":[` + pod("a") + `,` + pod("b") + `]}`, wantNames: []string{"a", "b"}},
		{
			name:      "typed list items without kind",
			input:     "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n  spec: {containers: [{name: app}]}\n",
			wantNames: []string{"a"},
		},
		{
			name:      "nested list",
			input:     `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"List","items":[` + pod("a") + `]}]}`,
			wantNames: []string{"a"},
		},
		{
			name: "every workload kind",
			input: strings.Join([]string{
				"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: app}]}}}",
				"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec: {template: {spec: {containers: [{name: app}]}}}",
				"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\nspec: {template: {spec: {containers: [{name: app}]}}}",
				"apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec: {template: {spec: {containers: [{name: app}]}}}",
				"apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\nspec: {template: {spec: {containers: [{name: app}]}}}",
				"apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc-without-template}\nspec: {}",
				"apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {template: {spec: {containers: [{name: app}]}}}",
				"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: app}]}}}}}",
				"apiVersion: v1\nkind: PodTemplate\nmetadata: {name: pt}\ntemplate: {spec: {containers: [{name: app}]}}",
				"apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec: {containers: [{name: app}]}",
				"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: not-a-workload}\nspec: {}",
				"apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: other-group}\nspec: {}",
			}, "\n---\n"),
			wantNames: []string{"d", "s", "ds", "rs", "rc", "j", "cj", "pt", "web-"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := runCmd(tt.input, "inspect", "-f", "-", "-o", "json")
			g.Expect(stderr).To(BeEmpty())
			g.Expect(code).To(Equal(0))
			var rows []row
			g.Expect(json.Unmarshal([]byte(stdout), &rows)).To(Succeed())
			var names []string
			for _, r := range rows {
				names = append(names, r.Name)
			}
			g.Expect(names).To(Equal(tt.wantNames))
		})
	}
}

func TestInspectEmptyTable(t *testing.T) {
	g := NewWithT(t)
	code, stdout, _ := runCmd("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "inspect", "-f", "-")
	g.Expect(code).To(Equal(0))
	g.Expect(stdout).To(Equal("KIND   NAMESPACE   NAME   LAYOUT   IMAGE   VERSION   EXPECTED   STALE   REASONS\n"))

	code, stdout, _ = runCmd("", "inspect", "-f", "-", "-o", "json")
	g.Expect(code).To(Equal(0))
	g.Expect(stdout).To(Equal("[]\n"))
}

func TestInspectErrors(t *testing.T) {
	tests := []struct {
		name    string
		stdin   string
		args    []string
		wantErr string
	}{
		{name: "no input", args: []string{}, wantErr: "error: no input: give a manifest with -f FILE, or -f - for stdin"},
		{name: "missing file", args: []string{"-f", "testdata/does-not-exist.yaml"}, wantErr: "error: read manifest: open testdata/does-not-exist.yaml: no such file or directory"},
		{name: "not YAML", stdin: "kind: [unclosed\n", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: document 1 (line 1): "},
		{name: "broken JSON", stdin: `{"apiVersion": "v1", "kind": `, args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: document 1 (line 1): unexpected EOF"},
		{name: "plain text", stdin: "hello world\n", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: document 1 (line 1): not a Kubernetes object: expected a mapping with apiVersion and kind"},
		{name: "a list of strings", stdin: "- a\n- b\n", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: document 1 (line 1): not a Kubernetes object: expected a mapping"},
		{name: "items not a list", stdin: "apiVersion: v1\nkind: List\nitems: 3\n", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: document 1 (line 1, List): not a Kubernetes object: json: cannot unmarshal"},
		{name: "no kind", stdin: "metadata: {name: x}\n", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: document 1 (line 1): not a Kubernetes object: apiVersion and kind are required"},
		{
			name:    "second document broken",
			stdin:   "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: 3}\n",
			args:    []string{"-f", "-"},
			wantErr: `error: read manifest stdin: document 2 (line 5, Pod): Pod "b": json: cannot unmarshal`,
		},
		{
			name:    "a YAML syntax error names the document, its line, kind and name",
			stdin:   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n# the broken one\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: [1\n",
			args:    []string{"-f", "-"},
			wantErr: "error: read manifest stdin: document 2 (line 6, Deployment web): ",
		},
		{name: "NUL bytes", stdin: "\x00\x00\x00\x00", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: the input is binary, not YAML or JSON: a NUL byte at offset 0"},
		{name: "NUL bytes after text", stdin: "apiVersion: v1\n\x00", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: the input is binary, not YAML or JSON: a NUL byte at offset 15"},
		{name: "gzip", stdin: "\x1f\x8b\x08\x00rest", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: the input is gzip-compressed: decompress it first"},
		{name: "ELF", stdin: "\x7fELF\x02\x01", args: []string{"-f", "-"}, wantErr: "error: read manifest stdin: the input is an executable (ELF), not a manifest"},
		{name: "a file of NUL bytes names the file", args: []string{"-f", "testdata/binary/zeros.bin"}, wantErr: "error: read manifest testdata/binary/zeros.bin: the input is binary"},
		{
			name:    "over the size limit",
			stdin:   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n" + strings.Repeat("# padding\n", 200),
			args:    []string{"-f", "-", "--max-input-size", "1Ki"},
			wantErr: "error: read manifest stdin: the input is larger than 1Ki (--max-input-size): split it, or raise the limit",
		},
		{name: "bad size limit", args: []string{"-f", "-", "--max-input-size", "lots"}, wantErr: `error: --max-input-size "lots" is not a positive size such as 256Mi`},
		{
			name:    "list item without kind",
			stdin:   `{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"a"}}]}`,
			args:    []string{"-f", "-"},
			wantErr: "error: read manifest stdin: document 1 (line 1): List item 0: not a Kubernetes object: apiVersion and kind are required",
		},
		{name: "unknown module version", args: []string{"-f", "testdata/workloads.yaml", "--module-version", "1.31.0"}, wantErr: "error: module version 1.31.0 is not in the release table (known releases: 1.19.0, 1.19.1, 1.20.0, "},
		{name: "module version not a version", args: []string{"-f", "testdata/workloads.yaml", "--module-version", "latest"}, wantErr: `error: module version "latest" is not a release version (want X.Y.Z, e.g. 1.30.0)`},
		{name: "both targets", args: []string{"-f", "-", "--module-version", "1.30.0", "--istio-version", "1.30.2", "--default-type", "native"}, wantErr: "error: give the target either as"},
		{name: "compat with istio version", args: []string{"-f", "-", "--compatibility-mode", "--istio-version", "1.30.2", "--default-type", "native"}, wantErr: "error: give the target either as"},
		{name: "istio version alone", args: []string{"-f", "-", "--istio-version", "1.30.2"}, wantErr: "error: --istio-version and --default-type go together"},
		{name: "default type alone", args: []string{"-f", "-", "--default-type", "native"}, wantErr: "error: --istio-version and --default-type go together"},
		{name: "bad istio version", args: []string{"-f", "-", "--istio-version", "1.30", "--default-type", "native"}, wantErr: `error: --istio-version "1.30" is not an Istio version`},
		{name: "bad default type", args: []string{"-f", "-", "--istio-version", "1.30.2", "--default-type", "sidecar"}, wantErr: `error: --default-type "sidecar": use native or regular`},
		{name: "bad output", args: []string{"-f", "-", "-o", "yaml"}, wantErr: `error: unknown output format "yaml": use table or json`},
		{name: "unknown flag", args: []string{"-f", "-", "--namespace", "x"}, wantErr: "error: flag provided but not defined: -namespace (see 'kubectl istio-proxies inspect -h')"},
		{name: "positional argument", args: []string{"-f", "-", "pods"}, wantErr: `error: unexpected arguments ["pods"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := runCmd(tt.stdin, append([]string{"inspect"}, tt.args...)...)
			g.Expect(code).To(Equal(1))
			g.Expect(stdout).To(BeEmpty())
			g.Expect(stderr).To(HavePrefix(tt.wantErr))
		})
	}
}

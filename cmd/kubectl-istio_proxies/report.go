package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// row is one line of a report. Its JSON form is the -o json output; the keys
// are part of the command's interface.
type row struct {
	Kind         string   `json:"kind"`
	Namespace    string   `json:"namespace"`
	Name         string   `json:"name"`
	Layout       string   `json:"layout"`
	Image        string   `json:"image"`
	Version      string   `json:"version"`
	ExpectedType string   `json:"expectedType"`
	Stale        bool     `json:"stale"`
	Reasons      []string `json:"reasons"`
}

// inspectRow reports one object against decision d. A gateway has no
// expected sidecar type, so ExpectedType is empty for it.
func inspectRow(obj podObject, d sidecarmode.Decision) row {
	meta, spec, _ := sidecarmode.PodTemplateOf(obj.Object)
	p := sidecarmode.Inspect(meta, spec)
	r := row{
		Kind:      obj.Kind,
		Namespace: obj.Namespace,
		Name:      obj.Name,
		Layout:    string(p.Layout),
		Image:     p.Image,
		Version:   p.Version,
		Reasons:   []string{},
	}
	if p.Layout != sidecarmode.LayoutGateway {
		r.ExpectedType = string(sidecarmode.ExpectedType(meta.Annotations, d))
	}
	for _, reason := range sidecarmode.StaleProxy(p, meta.Annotations, d) {
		r.Reasons = append(r.Reasons, reason.Message)
	}
	r.Stale = len(r.Reasons) > 0
	return r
}

// writeJSON writes the rows as one JSON array ([] when there are none).
func writeJSON(w io.Writer, rows []row) error {
	if rows == nil {
		rows = []row{}
	}
	return printJSON(w, rows)
}

// printJSON writes v as indented JSON and a newline: the -o json of every
// subcommand.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable writes the rows as aligned columns, "-" for empty cells.
func writeTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tLAYOUT\tIMAGE\tVERSION\tEXPECTED\tSTALE\tREASONS")
	for _, r := range rows {
		stale := "no"
		if r.Stale {
			stale = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			cell(r.Kind), cell(r.Namespace), cell(r.Name), cell(r.Layout), cell(r.Image),
			cell(r.Version), cell(r.ExpectedType), stale, cell(strings.Join(r.Reasons, "; ")))
	}
	return tw.Flush()
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Command gendocs writes the document corpus (both splits) to
// evals/masking/testdata/docs-tune.jsonl and docs-heldout.jsonl. It is a
// separate generator from gencorpus: other seeds, shapes and contexts.
//
//	go run ./evals/masking/gendocs
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	maskingeval "github.com/airlockhq/airlock/evals/masking"
)

func main() {
	dir := "evals/masking/testdata"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	for _, split := range []string{"tune", "heldout"} {
		if err := write(filepath.Join(dir, "docs-"+split+".jsonl"), maskingeval.GenerateDocs(split)); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}

func write(path string, docs []maskingeval.Doc) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

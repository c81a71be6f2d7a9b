// Command gencorpus writes the masking evaluation corpus to
// evals/masking/testdata/corpus.jsonl (or the path given as the only
// argument), one JSON item per line.
//
//	go run ./evals/masking/gencorpus
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	maskingeval "github.com/airlockhq/airlock/evals/masking"
)

func main() {
	path := "evals/masking/testdata/corpus.jsonl"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := write(path); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, it := range maskingeval.Generate() {
		if err := enc.Encode(it); err != nil {
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

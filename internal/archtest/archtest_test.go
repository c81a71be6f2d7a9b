package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/airlockhq/airlock"

// packages maps each package dir (relative to the repo root) to its
// non-test Go files.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root := "../.."
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != root) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			out[rel] = append(out[rel], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for dir, files := range packages(t) {
		found := false
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("package %s has no doc comment", dir)
		}
	}
}

// The domain packages never import tools/* or server (DESIGN.md).
func TestDependencyDirection(t *testing.T) {
	domains := []string{"policy", "masking", "recorder", "identity", "store", "config"}
	forbidden := []string{module + "/tools", module + "/server", module + "/cmd"}
	for dir, files := range packages(t) {
		top := strings.Split(filepath.ToSlash(dir), "/")[0]
		isDomain := false
		for _, d := range domains {
			isDomain = isDomain || top == d
		}
		if !isDomain {
			continue
		}
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				for _, bad := range forbidden {
					if path == bad || strings.HasPrefix(path, bad+"/") {
						t.Errorf("%s imports %s", f, path)
					}
				}
			}
		}
	}
}

func TestNoGenericPackageNames(t *testing.T) {
	for dir := range packages(t) {
		switch filepath.Base(dir) {
		case "util", "utils", "common", "helpers", "models":
			t.Errorf("package %s: name says nothing", dir)
		}
	}
	if _, err := os.Stat("../../go.mod"); err != nil {
		t.Fatal("not at the repo root")
	}
}

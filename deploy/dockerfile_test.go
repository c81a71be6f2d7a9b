package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dockerInstr is one Dockerfile instruction with its continuation lines
// joined.
type dockerInstr struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []dockerInstr {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstr
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: the last instruction ends with a line continuation", path)
	}
	return out
}

// TestDockerfile checks the properties the deployment relies on, since no
// Docker daemon runs here (hadolint is not packaged either): a separate
// build stage with cgo and a static link, a distroless runtime stage that
// runs as a numeric non-root user, exec-form entrypoint, version stamping
// into variables that exist.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	var stages []dockerInstr
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM", len(stages))
	}
	if !regexp.MustCompile(`(?i)\bAS\s+build$`).MatchString(stages[0].args) {
		t.Errorf("first stage %q: want it named 'build'", stages[0].args)
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.args, "gcr.io/distroless/static") || !strings.HasSuffix(final.args, ":nonroot") {
		t.Errorf("runtime image %q: want gcr.io/distroless/static…:nonroot (no shell, no libc)", final.args)
	}

	var finalIns, buildIns []dockerInstr
	for _, in := range ins {
		if in.line >= final.line {
			finalIns = append(finalIns, in)
		} else {
			buildIns = append(buildIns, in)
		}
	}
	var user, entrypoint string
	for _, in := range finalIns {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "RUN":
			t.Errorf("line %d: RUN in the runtime stage (it has no shell)", in.line)
		case "ADD":
			t.Errorf("line %d: ADD in the runtime stage; COPY --from=build only", in.line)
		case "COPY":
			if !strings.Contains(in.args, "--from=build") {
				t.Errorf("line %d: runtime stage copies %q from the context; only the built binary belongs there", in.line, in.args)
			}
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot cannot check a name)", user)
	}
	if gid != "" {
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("USER %q: want a numeric non-root gid", user)
		}
	}
	if !strings.HasPrefix(entrypoint, "[") {
		t.Errorf("ENTRYPOINT %q: want the exec form (signals reach the gateway, which drains on SIGTERM)", entrypoint)
	}

	var build string
	for _, in := range buildIns {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
		if in.cmd == "ADD" && strings.Contains(in.args, "://") {
			t.Errorf("line %d: ADD from a URL", in.line)
		}
	}
	for _, want := range []string{"CGO_ENABLED=1", "-extldflags -static", "netgo", "osusergo", "-trimpath", "./cmd/airlock"} {
		if !strings.Contains(build, want) {
			t.Errorf("build command lacks %q: %s", want, build)
		}
	}
	checkStampedVars(t, build)
}

// checkStampedVars: every -X pkg.Var in an ldflags string names a
// package-level string variable that exists, or the stamp silently does
// nothing.
func checkStampedVars(t *testing.T, ldflags string) {
	t.Helper()
	const module = "github.com/airlockhq/airlock/"
	stamps := regexp.MustCompile(`-X\s+(\S+)\.(\w+)=`).FindAllStringSubmatch(ldflags, -1)
	if len(stamps) < 3 {
		t.Errorf("want version, commit and date stamped with -X, found %d", len(stamps))
	}
	for _, m := range stamps {
		pkg, name := m[1], m[2]
		rel, ok := strings.CutPrefix(pkg, module)
		if !ok {
			t.Errorf("-X %s.%s: not a package of this module", pkg, name)
			continue
		}
		if !packageHasStringVar(t, filepath.Join("..", rel), name) {
			t.Errorf("-X %s.%s: no such package-level string variable", pkg, name)
		}
	}
}

func packageHasStringVar(t *testing.T, dir, name string) bool {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, s := range gd.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if n.Name != name {
							continue
						}
						if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" {
							return true
						}
						if vs.Type == nil && i < len(vs.Values) {
							if bl, ok := vs.Values[i].(*ast.BasicLit); ok && bl.Kind == token.STRING {
								return true
							}
						}
					}
				}
			}
		}
	}
	return false
}

// TestDockerignore keeps local state (stores, keys, test clusters,
// node_modules) out of the build context, so it cannot land in an image.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf("the build context needs a .dockerignore at the repository root: %v", err)
	}
	for _, want := range []string{".git", ".testenv", "bin", "**/node_modules", "**/*.db", "**/*.key", "**/*.pem"} {
		if !strings.Contains("\n"+string(b)+"\n", "\n"+want+"\n") {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
}

package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/airlockhq/airlock/config"
)

const chartDir = "helm/airlock"

// kubeVersion is the cluster version helm renders for: a helm built with
// go install (scripts/test-helm.sh) does not know its Kubernetes version
// and would assume v1.20, below the chart's kubeVersion.
const kubeVersion = "1.31.0"

// helmBin finds the helm binary: AIRLOCK_TEST_HELM (make test sets it from
// scripts/test-helm.sh), else helm on PATH. Without one the chart tests
// skip, unless AIRLOCK_TEST_REQUIRE_SERVICES=1, where they fail.
func helmBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AIRLOCK_TEST_HELM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("AIRLOCK_TEST_HELM=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	const how = "helm is needed to lint and render the chart: run `bash scripts/test-helm.sh` (installs it with go install) and set AIRLOCK_TEST_HELM to the path it prints"
	if os.Getenv("AIRLOCK_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(how)
	}
	t.Skip(how)
	return ""
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	// Keep helm's caches and config out of $HOME.
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+tmp, "HELM_CONFIG_HOME="+tmp, "HELM_DATA_HOME="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// render runs helm template with the given values files and --set flags
// and returns the manifests by kind.
func render(t *testing.T, valueFiles []string, sets ...string) map[string][]map[string]any {
	t.Helper()
	args := []string{"template", "airlock", chartDir, "--namespace", "airlock", "--kube-version", kubeVersion}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	docs := map[string][]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered chart is not YAML: %v\n%s", err, out)
		}
		if m == nil {
			continue
		}
		kind, _ := m["kind"].(string)
		docs[kind] = append(docs[kind], m)
	}
	return docs
}

// get walks nested maps and lists: get(m, "spec", "template", "spec").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func one(t *testing.T, docs map[string][]map[string]any, kind string) map[string]any {
	t.Helper()
	if n := len(docs[kind]); n != 1 {
		t.Fatalf("want one %s, rendered %d", kind, n)
	}
	return docs[kind][0]
}

func TestHelmLint(t *testing.T) {
	for _, values := range [][]string{nil, {"../examples/kubernetes/values.yaml"}} {
		args := []string{"lint", "--strict", chartDir, "--namespace", "airlock", "--kube-version", kubeVersion}
		for _, f := range values {
			args = append(args, "-f", f)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestChartRendersTheWorkedExample renders the chart with the values of
// docs/kubernetes.md and checks what a cluster would run: probes,
// resources, a locked-down pod, secrets only by reference, the PDB, and an
// airlock.yaml that the gateway's config loader accepts.
func TestChartRendersTheWorkedExample(t *testing.T) {
	docs := render(t, []string{"../examples/kubernetes/values.yaml"})
	dep := one(t, docs, "Deployment")
	if got := get(dep, "spec", "replicas"); got != 3 {
		t.Errorf("replicas = %v, want 3", got)
	}
	pod := get(dep, "spec", "template", "spec")
	c := get(pod, "containers", 0)
	if got := get(c, "livenessProbe", "httpGet", "path"); got != "/healthz" {
		t.Errorf("liveness probe path = %v", got)
	}
	if got := get(c, "readinessProbe", "httpGet", "path"); got != "/readyz" {
		t.Errorf("readiness probe path = %v", got)
	}
	if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "limits", "memory") == nil {
		t.Errorf("resources: want requests and a memory limit, got %v", get(c, "resources"))
	}
	if get(pod, "automountServiceAccountToken") != false {
		t.Error("the gateway's pod should not mount an API token it never uses")
	}
	for path, want := range map[string]any{
		"readOnlyRootFilesystem":   true,
		"allowPrivilegeEscalation": false,
		"privileged":               false,
	} {
		if got := get(c, "securityContext", path); got != want {
			t.Errorf("container securityContext.%s = %v, want %v", path, got, want)
		}
	}
	if got := get(c, "securityContext", "capabilities", "drop", 0); got != "ALL" {
		t.Errorf("capabilities.drop = %v, want [ALL]", get(c, "securityContext", "capabilities", "drop"))
	}
	if get(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if uid, _ := get(pod, "securityContext", "runAsUser").(int); uid == 0 {
		t.Error("pod securityContext.runAsUser is root or unset")
	}

	// Secrets only by reference: no env var carries a literal value that
	// looks like a credential or a DSN.
	env := map[string]any{}
	for _, e := range get(c, "env").([]any) {
		name := get(e, "name").(string)
		env[name] = e
		if v, ok := get(e, "value").(string); ok && (strings.Contains(v, "://") || strings.Contains(strings.ToLower(name), "password")) {
			t.Errorf("env %s has a literal value %q; secrets come from secretKeyRef", name, v)
		}
	}
	for name, ref := range map[string][2]string{
		"AIRLOCK_STORE_DSN":  {"airlock-store", "dsn"},
		"PGPASSWORD":         {"airlock-store", "password"},
		"WAREHOUSE_PASSWORD": {"airlock-warehouse", "password"},
	} {
		e := env[name]
		if get(e, "valueFrom", "secretKeyRef", "name") != ref[0] || get(e, "valueFrom", "secretKeyRef", "key") != ref[1] {
			t.Errorf("env %s = %v, want secretKeyRef %s/%s", name, e, ref[0], ref[1])
		}
	}
	if get(env["SSL_CERT_DIR"], "value") == nil {
		t.Error("trustClusterCA: SSL_CERT_DIR not set")
	}

	// Every mount has a volume, and the only writable mounts are scratch.
	vols := map[string]any{}
	for _, v := range get(pod, "volumes").([]any) {
		vols[get(v, "name").(string)] = v
	}
	for _, m := range get(c, "volumeMounts").([]any) {
		name := get(m, "name").(string)
		v, ok := vols[name]
		if !ok {
			t.Errorf("volumeMount %s has no volume", name)
			continue
		}
		if get(m, "readOnly") != true && get(v, "emptyDir") == nil {
			t.Errorf("volumeMount %s is writable and not an emptyDir", name)
		}
	}
	if get(vols["journal-keys"], "secret", "secretName") != "airlock-journal-keys" {
		t.Errorf("journal keys volume = %v", vols["journal-keys"])
	}
	if get(vols["kube-ca"], "configMap", "name") != "kube-root-ca.crt" {
		t.Errorf("cluster CA volume = %v", vols["kube-ca"])
	}

	// The PDB and the Service select the pods.
	podLabels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	pdb := one(t, docs, "PodDisruptionBudget")
	if get(pdb, "spec", "minAvailable") != 1 {
		t.Errorf("PDB minAvailable = %v", get(pdb, "spec", "minAvailable"))
	}
	for k, v := range get(pdb, "spec", "selector", "matchLabels").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("PDB selects %s=%v, pods have %v", k, v, podLabels[k])
		}
	}
	svc := one(t, docs, "Service")
	for k, v := range get(svc, "spec", "selector").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("Service selects %s=%v, pods have %v", k, v, podLabels[k])
		}
	}
	if get(svc, "spec", "ports", 0, "targetPort") != "http" || get(c, "ports", 0, "name") != "http" {
		t.Error("the Service does not target the container's http port")
	}

	// The ConfigMap's airlock.yaml is what the gateway loads.
	cm := one(t, docs, "ConfigMap")
	raw, _ := get(cm, "data", "airlock.yaml").(string)
	if !strings.Contains(raw, "store: ${AIRLOCK_STORE_DSN}") {
		t.Errorf("airlock.yaml does not take the store from the Secret's env var:\n%s", raw)
	}
	cfg := loadRendered(t, raw, map[string]string{
		"AIRLOCK_STORE_DSN": "postgres://airlock@pg.db.svc:5432/airlock?sslmode=verify-full",
	})
	if cfg != nil {
		if cfg.Identity.GroupsClaim != "sub" || cfg.Identity.Audience != "airlock" {
			t.Errorf("identity = %+v", cfg.Identity)
		}
		if cfg.Server.Listen != "0.0.0.0:8080" {
			t.Errorf("server.listen = %q", cfg.Server.Listen)
		}
		if cfg.Journal.CheckpointKeyFile != "/var/run/airlock/journal-keys/checkpoint.key" ||
			cfg.Journal.DigestKeyFile != "/var/run/airlock/journal-keys/digest.key" {
			t.Errorf("journal key files = %q, %q", cfg.Journal.CheckpointKeyFile, cfg.Journal.DigestKeyFile)
		}
	}
	if get(dep, "spec", "template", "metadata", "annotations", "checksum/config") == nil {
		t.Error("no config checksum annotation: a config change would not roll the pods")
	}
}

// loadRendered writes the rendered airlock.yaml to a file and loads it
// with config.Load, with env standing in for the container's environment.
func loadRendered(t *testing.T, raw string, env map[string]string) *config.Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	if err := os.WriteFile(p, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	var ve *config.ValidationError
	if errors.As(err, &ve) && ve.Field == "store" && !postgresStoreSupported(t) {
		// The PostgreSQL store is landing separately; until the config
		// package accepts postgres:// stores, check everything else.
		t.Logf("config package does not accept postgres stores yet: checked the rest of airlock.yaml with a sqlite store")
		env["AIRLOCK_STORE_DSN"] = "sqlite:" + filepath.Join(t.TempDir(), "airlock.db")
		return loadRendered(t, raw, env)
	}
	if err != nil {
		t.Errorf("the chart's airlock.yaml does not load: %v\n%s", err, raw)
		return nil
	}
	return cfg
}

func postgresStoreSupported(t *testing.T) bool {
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	cfg := "store: postgres://airlock@127.0.0.1:5432/airlock\nidentity:\n  issuer: https://issuer.example\n"
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(p)
	var ve *config.ValidationError
	return !(errors.As(err, &ve) && ve.Field == "store")
}

// TestChartDefaults renders the chart's own defaults (two replicas need a
// store and journal keys, so they are given) and a one-replica trial
// without a store.
func TestChartDefaults(t *testing.T) {
	docs := render(t, nil, "store.existingSecret=pg", "journalKeys.existingSecret=keys")
	dep := one(t, docs, "Deployment")
	if get(dep, "spec", "replicas") != 2 {
		t.Errorf("default replicas = %v", get(dep, "spec", "replicas"))
	}
	one(t, docs, "PodDisruptionBudget")
	one(t, docs, "ServiceAccount")

	trial := render(t, nil, "replicaCount=1", "podDisruptionBudget.enabled=false")
	if len(trial["PodDisruptionBudget"]) != 0 {
		t.Error("podDisruptionBudget.enabled=false still renders a PDB")
	}
	raw, _ := get(one(t, trial, "ConfigMap"), "data", "airlock.yaml").(string)
	if !strings.Contains(raw, "store: sqlite:/var/lib/airlock/airlock.db") {
		t.Errorf("one replica without a store: want SQLite in the data volume, got\n%s", raw)
	}

	// A changed config changes the pods' checksum, so they roll.
	a := get(one(t, docs, "Deployment"), "spec", "template", "metadata", "annotations", "checksum/config")
	b := get(one(t, render(t, nil, "store.existingSecret=pg", "journalKeys.existingSecret=keys", "config.server.public_url=https://other.example"), "Deployment"),
		"spec", "template", "metadata", "annotations", "checksum/config")
	if a == nil || a == b {
		t.Errorf("checksum/config did not change with the config: %v, %v", a, b)
	}
}

// TestChartRefusesUnsafeValues: settings that cannot work with replicas
// fail the render with a message naming the value to set.
func TestChartRefusesUnsafeValues(t *testing.T) {
	cases := []struct {
		sets []string
		want string
	}{
		{[]string{"replicaCount=3", "journalKeys.existingSecret=k"}, "store.existingSecret: required when replicaCount > 1"},
		{[]string{"replicaCount=3", "store.existingSecret=pg"}, "journalKeys.existingSecret: required when replicaCount > 1"},
		{[]string{"replicaCount=1", "config.store=sqlite:x.db"}, "config.store: do not set it here"},
		{[]string{"store.existingSecret=pg", "journalKeys.existingSecret=k", "config.identity.dev_issuer.enabled=true"}, "config.identity.dev_issuer.enabled"},
		{[]string{"store.existingSecret=pg", "journalKeys.existingSecret=k", "podDisruptionBudget.maxUnavailable=1"}, "set minAvailable or maxUnavailable, not both"},
	}
	for _, tc := range cases {
		args := []string{"template", "airlock", chartDir, "--kube-version", kubeVersion}
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		out, err := helm(t, args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: want a failure saying %q, got err=%v\n%s", tc.sets, tc.want, err, out)
		}
	}
}

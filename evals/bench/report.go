package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what one run measured.
type Report struct {
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Options Options   `json:"options"`
	// Startup is the HTTP gateway's start-up to /healthz and idle RSS.
	Startup *Startup `json:"startup,omitempty"`
	// PeakRSSMiB is each target's largest server process peak RSS.
	PeakRSSMiB map[string]float64 `json:"peak_rss_mib,omitempty"`
	Cells      []Cell             `json:"cells"`
}

// Machine says where the numbers come from.
type Machine struct {
	Cores    int     `json:"cores"`
	MemGiB   float64 `json:"mem_gib"`
	CPU      string  `json:"cpu"`
	GoVer    string  `json:"go"`
	GOOS     string  `json:"goos"`
	GOARCH   string  `json:"goarch"`
	Postgres string  `json:"postgres,omitempty"`
}

// Cell is one (scenario, agents, target) measurement over all rounds.
type Cell struct {
	Scenario string  `json:"scenario"`
	Agents   int     `json:"agents"`
	Target   string  `json:"target"`
	Calls    int     `json:"calls"`
	Errors   int     `json:"errors"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	PerSec   float64 `json:"calls_per_s"`
	// CPUMSPerCall is the server processes' CPU per call (0: no server
	// process, as for the floor).
	CPUMSPerCall float64 `json:"server_cpu_ms_per_call"`
	// VsFloor and VsReference are this cell's p50 over the floor's and the
	// reference's at the same scenario and agents (0: not measured).
	VsFloor     float64 `json:"p50_vs_floor,omitempty"`
	AddedMS     float64 `json:"p50_added_over_floor_ms,omitempty"`
	VsReference float64 `json:"p50_vs_reference,omitempty"`
	FirstError  string  `json:"first_error,omitempty"`
	// StageMS is the mean milliseconds a call spent in each pipeline
	// stage, by the gateway's own timers (--stages; HTTP target only).
	StageMS map[string]float64 `json:"stage_ms_per_call,omitempty"`
}

func (r *Report) build(o Options, cells map[cellKey]*cell) {
	for _, sc := range o.scenarios() {
		for _, n := range o.Agents {
			for _, t := range o.Targets {
				c := cells[cellKey{sc.Name, n, t}]
				if c == nil {
					continue
				}
				out := Cell{Scenario: sc.Name, Agents: n, Target: t, Calls: len(c.lat), Errors: c.errs, FirstError: c.sample}
				if len(c.lat) > 0 {
					slices.Sort(c.lat)
					out.P50MS = ms(percentile(c.lat, 0.50))
					out.P99MS = ms(percentile(c.lat, 0.99))
				}
				if c.wall > 0 {
					out.PerSec = float64(len(c.lat)) / c.wall.Seconds()
				}
				out.StageMS = c.stagesPerCall()
				if c.cpu > 0 && len(c.lat)+c.errs > 0 {
					out.CPUMSPerCall = ms(c.cpu) / float64(len(c.lat)+c.errs)
				}
				r.Cells = append(r.Cells, out)
			}
		}
	}
	p50 := func(sc string, n int, t string) float64 {
		for _, c := range r.Cells {
			if c.Scenario == sc && c.Agents == n && c.Target == t && c.Errors == 0 {
				return c.P50MS
			}
		}
		return 0
	}
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Target == TargetFloor || c.Target == TargetReference || c.P50MS == 0 {
			continue
		}
		if f := p50(c.Scenario, c.Agents, TargetFloor); f > 0 {
			c.VsFloor, c.AddedMS = c.P50MS/f, c.P50MS-f
		}
		if ref := p50(c.Scenario, c.Agents, TargetReference); ref > 0 {
			c.VsReference = c.P50MS / ref
		}
	}
}

// Errors is the number of failed calls in the whole run.
func (r *Report) Errors() int {
	n := 0
	for _, c := range r.Cells {
		n += c.Errors
	}
	return n
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "airlock bench — %s — %d cores, %.1f GiB, %s, %s %s/%s, PostgreSQL %s\n",
		r.Started.Format(time.RFC3339), m.Cores, m.MemGiB, m.CPU, m.GoVer, m.GOOS, m.GOARCH, m.Postgres)
	fmt.Fprintf(w, "rounds %d (interleaved, order rotated each round), max_rows %d, p50/p99 over every call of every round\n\n",
		r.Options.Rounds, maxRows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tagents\ttarget\tcalls\terrors\tp50 ms\tp99 ms\tcalls/s\tcpu ms/call\tvs pgx\t+ms over pgx\tvs reference\t")
	for _, c := range r.Cells {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%.3f\t%.3f\t%.0f\t%s\t%s\t%s\t%s\t\n",
			c.Scenario, c.Agents, c.Target, c.Calls, c.Errors, c.P50MS, c.P99MS, c.PerSec,
			orDash(c.CPUMSPerCall, "%.3f"), orDash(c.VsFloor, "%.1f×"), orDash(c.AddedMS, "%.3f"), orDash(c.VsReference, "%.2f×"))
	}
	tw.Flush()
	r.writeStages(w)
	if r.Startup != nil {
		fmt.Fprintf(w, "\ngateway start-up to /healthz: %.1f ms; idle RSS %.1f MiB\n", r.Startup.HealthzMS, r.Startup.IdleRSSMiB)
	}
	if len(r.PeakRSSMiB) > 0 {
		var parts []string
		for _, t := range r.Options.Targets {
			if v, ok := r.PeakRSSMiB[t]; ok && v > 0 {
				parts = append(parts, fmt.Sprintf("%s %.1f MiB", t, v))
			}
		}
		fmt.Fprintf(w, "peak RSS of one server process: %s\n", strings.Join(parts, ", "))
	}
	for _, sc := range Scenarios {
		if sc.SkipReference != "" && slices.Contains(r.Options.Scenarios, sc.Name) && slices.Contains(r.Options.Targets, TargetReference) {
			fmt.Fprintf(w, "reference skips %s: %s\n", sc.Name, sc.SkipReference)
		}
	}
	for _, c := range r.Cells {
		if c.FirstError != "" {
			fmt.Fprintf(w, "first error in %s/%d/%s: %s\n", c.Scenario, c.Agents, c.Target, c.FirstError)
		}
	}
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func setPeak(m map[string]float64, target string, v float64) map[string]float64 {
	if v == 0 {
		return m
	}
	if m == nil {
		m = map[string]float64{}
	}
	m[target] = v
	return m
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVer: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb float64
				fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}

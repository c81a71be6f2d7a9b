package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// stageMetric is the gateway's per-stage latency histogram (see
// docs/observability.md); --stages reads it before and after each batch
// on the streamable HTTP target.
const stageMetric = "airlock_stage_duration_seconds"

// stageTimes are a histogram's per-stage sums (seconds) and counts.
type stageTimes map[string]struct{ sum, count float64 }

// freeLoopbackAddr finds a free port on 127.0.0.1 for the metrics listener.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// scrapeStages reads the stage histogram from the metrics listener at addr.
func scrapeStages(ctx context.Context, addr string) (stageTimes, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: --stages: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: --stages: scrape: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("bench: --stages: parse: %w", err)
	}
	f := fams[stageMetric]
	if f == nil {
		return nil, fmt.Errorf("bench: --stages: the gateway exports no %s (is it older than the metrics?)", stageMetric)
	}
	out := stageTimes{}
	for _, m := range f.Metric {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		for _, l := range m.Label {
			if l.GetName() == "stage" {
				out[l.GetValue()] = struct{ sum, count float64 }{h.GetSampleSum(), float64(h.GetSampleCount())}
			}
		}
	}
	return out, nil
}

// addStages adds after-before, in milliseconds, to c's per-stage totals.
func (c *cell) addStages(before, after stageTimes, calls int) {
	if c.stageMS == nil {
		c.stageMS = map[string]float64{}
	}
	for st, a := range after {
		c.stageMS[st] += (a.sum - before[st].sum) * 1000
	}
	c.stageCalls += calls
}

// stagesPerCall is the mean milliseconds a call spent in each stage.
func (c *cell) stagesPerCall() map[string]float64 {
	if c.stageCalls == 0 {
		return nil
	}
	out := make(map[string]float64, len(c.stageMS))
	for st, v := range c.stageMS {
		out[st] = v / float64(c.stageCalls)
	}
	return out
}

// stageOrder is the pipeline's order; stages not listed follow, sorted.
var stageOrder = []string{"identify", "journal", "classify", "decide", "approve", "execute", "mask", "cap"}

func sortedStages(m map[string]float64) []string {
	var rest []string
	for st := range m {
		if !slices.Contains(stageOrder, st) {
			rest = append(rest, st)
		}
	}
	slices.Sort(rest)
	var out []string
	for _, st := range stageOrder {
		if _, ok := m[st]; ok {
			out = append(out, st)
		}
	}
	return append(out, rest...)
}

// writeStages prints where a guarded call's time goes, per scenario and
// agents, on the streamable HTTP target: the gateway's own per-stage time
// and the rest of the call's p50 (transport, MCP, client).
func (r *Report) writeStages(w io.Writer) {
	var any bool
	for _, c := range r.Cells {
		any = any || len(c.StageMS) > 0
	}
	if !any {
		return
	}
	fmt.Fprintf(w, "\nwhere a call's time goes (%s, gateway stage timers, mean ms per call):\n", TargetHTTP)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"scenario", "agents"}
	header = append(header, stageOrder...)
	header = append(header, "stages", "p50", "outside stages")
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, c := range r.Cells {
		if len(c.StageMS) == 0 {
			continue
		}
		row := []string{c.Scenario, fmt.Sprint(c.Agents)}
		var total float64
		for _, st := range sortedStages(c.StageMS) {
			total += c.StageMS[st]
		}
		for _, st := range stageOrder {
			row = append(row, orDash(c.StageMS[st], "%.3f"))
		}
		row = append(row, fmt.Sprintf("%.3f", total), fmt.Sprintf("%.3f", c.P50MS), fmt.Sprintf("%.3f", c.P50MS-total))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, "(stages are means, p50 is a median: \"outside stages\" is an estimate of the MCP and HTTP layers' share)")
}

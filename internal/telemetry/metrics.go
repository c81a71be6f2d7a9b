package telemetry

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlockhq/airlock/store"
)

// metrics are the collectors of one gateway, on a registry of its own (no
// global state: tests run several gateways in one process).
type metrics struct {
	reg          *prometheus.Registry
	calls        *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	stage        *prometheus.HistogramVec
	// stageObs are stage's series, resolved once: every call observes
	// each stage, and a label lookup per observation is work on the
	// guard's hot path.
	stageObs     map[string]prometheus.Observer
	masked       *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	inflight     prometheus.Gauge
	journalWrite *prometheus.HistogramVec
	journalErrs  *prometheus.CounterVec
	storeErrors  *prometheus.CounterVec
}

// Buckets from 100µs to ~100s: a stage can be a map lookup or a human
// approving a call.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 4, 11)

func newMetrics(version string) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_calls_total",
		Help: "Tool calls finished, by tool, connection (configured name, none or unknown), decision (allow, deny, approve, none) and outcome (ok, denied, invalid, error, pending, unknown, journal_unavailable, shutting_down).",
	}, []string{"tool", "connection", "decision", "outcome"})
	m.callDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "airlock_call_duration_seconds",
		Help:    "Time from a call entering the pipeline to its answer, by tool.",
		Buckets: latencyBuckets,
	}, []string{"tool"})
	m.stage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "airlock_stage_duration_seconds",
		Help:    "Time spent in each pipeline stage itself (identify, journal = started + finished writes, classify, decide, approve = waiting for a human included, execute, mask, cap).",
		Buckets: latencyBuckets,
	}, []string{"stage"})
	m.masked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_masked_values_total",
		Help: "Values masked in results returned to agents, by entity (detector or rule entity name).",
	}, []string{"entity"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_result_tokens_total",
		Help: "Tokens in results returned to agents, where the token budget counted them exactly (results that fit their budget by size are not counted; see airlock_result_bytes_total).",
	}, []string{"tool", "connection"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_result_bytes_total",
		Help: "Bytes of results returned to agents (masked, capped, as journaled).",
	}, []string{"tool", "connection"})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "airlock_calls_in_flight",
		Help: "Tool calls in the pipeline now.",
	})
	m.journalWrite = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "airlock_journal_write_duration_seconds",
		Help:    "Time to make one journal record durable, by record type (started, finished, event).",
		Buckets: latencyBuckets,
	}, []string{"type"})
	m.journalErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_journal_write_errors_total",
		Help: "Journal writes that failed, by record type. A failed started record refuses its call.",
	}, []string{"type"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_store_errors_total",
		Help: "Store errors, by operation (journal_append, grant_lookup, approval, scrape).",
	}, []string{"op"})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "airlock_build_info",
		Help:        "Always 1; the version label names the gateway's version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(m.calls, m.callDuration, m.stage, m.masked, m.tokens, m.bytes, m.inflight,
		m.journalWrite, m.journalErrs, m.storeErrors, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that exist before the first call, so dashboards and alerts
	// see zeros rather than gaps.
	m.stageObs = make(map[string]prometheus.Observer, len(Stages))
	for _, s := range Stages {
		m.stageObs[s] = m.stage.WithLabelValues(s)
	}
	for _, typ := range []string{"started", "finished", "event"} {
		m.journalWrite.WithLabelValues(typ)
		m.journalErrs.WithLabelValues(typ)
	}
	for _, op := range []string{"journal_append", "grant_lookup", "approval", "scrape"} {
		m.storeErrors.WithLabelValues(op)
	}
	return m
}

// Handler serves the metrics in the Prometheus text (or OpenMetrics)
// format.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.m.reg, promhttp.HandlerOpts{
		Registry:          t.m.reg,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
}

// Registry is the gateway's registry, for callers that add collectors.
func (t *Telemetry) Registry() *prometheus.Registry { return t.m.reg }

// Journal is the journal sink the recorder writes to (recorder.Journal).
type Journal interface {
	AppendJournal(ctx context.Context, e *store.Entry) (int64, error)
}

// WrapJournal times every journal write and counts failures.
func (t *Telemetry) WrapJournal(j Journal) Journal {
	if t == nil {
		return j
	}
	return &timedJournal{next: j, m: t.m}
}

type timedJournal struct {
	next Journal
	m    *metrics
}

func (j *timedJournal) AppendJournal(ctx context.Context, e *store.Entry) (int64, error) {
	typ := e.Type
	if typ != "started" && typ != "finished" {
		typ = "event"
	}
	start := time.Now()
	seq, err := j.next.AppendJournal(ctx, e)
	j.m.journalWrite.WithLabelValues(typ).Observe(time.Since(start).Seconds())
	if err != nil {
		j.m.journalErrs.WithLabelValues(typ).Inc()
		j.m.storeErrors.WithLabelValues("journal_append").Inc()
	}
	return seq, err
}

// Requests lists grants and approvals (store.ListRequests).
type Requests interface {
	ListRequests(ctx context.Context, f store.RequestFilter) ([]*store.Request, error)
}

// State is what the gateway reads at each scrape.
type State struct {
	Requests Requests
	// Integrity reports whether the journal chain verifies, and whether
	// the whole chain has been verified since start.
	Integrity func() (ok, fullyVerified bool)
}

// WatchState registers the gauges read from the store and the journal at
// each scrape: approvals pending and their age, grants active, chain
// verification status.
func (t *Telemetry) WatchState(s State) {
	if t == nil {
		return
	}
	t.m.reg.MustRegister(&stateCollector{s: s, t: t, now: time.Now})
}

var (
	descPending = prometheus.NewDesc("airlock_approvals_pending",
		"Requests waiting for a human, by kind (grant: access requests in approval mode; approval: per-call approvals). Counts at most the 1000 newest.",
		[]string{"kind"}, nil)
	descPendingAge = prometheus.NewDesc("airlock_approvals_pending_oldest_age_seconds",
		"Age of the oldest request waiting for a human, by kind; 0 when none waits.",
		[]string{"kind"}, nil)
	descGrants = prometheus.NewDesc("airlock_grants_active",
		"Active, unexpired grants, by connection. Counts at most the 1000 newest.",
		[]string{"connection"}, nil)
	descChainOK = prometheus.NewDesc("airlock_journal_chain_ok",
		"1 while the journal's hash chain verifies; 0 once verification failed (readiness fails too, until an operator acts).",
		nil, nil)
	descChainFull = prometheus.NewDesc("airlock_journal_chain_fully_verified",
		"1 once the whole chain has been verified since start (the background check), else 0.",
		nil, nil)
)

type stateCollector struct {
	s   State
	t   *Telemetry
	now func() time.Time
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descPendingAge, descGrants, descChainOK, descChainFull} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.Integrity != nil {
		ok, full := c.s.Integrity()
		ch <- prometheus.MustNewConstMetric(descChainOK, prometheus.GaugeValue, b2f(ok))
		ch <- prometheus.MustNewConstMetric(descChainFull, prometheus.GaugeValue, b2f(full))
	}
	if c.s.Requests == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.now()
	pending, err := c.s.Requests.ListRequests(ctx, store.RequestFilter{Statuses: []string{store.StatusPending}})
	if err != nil {
		// No gauge rather than a wrong zero; the error is counted.
		c.t.m.storeErrors.WithLabelValues("scrape").Inc()
	} else {
		n := map[string]int{store.KindGrant: 0, store.KindApproval: 0}
		oldest := map[string]time.Duration{store.KindGrant: 0, store.KindApproval: 0}
		for _, r := range pending {
			if _, ok := n[r.Kind]; !ok {
				continue
			}
			n[r.Kind]++
			oldest[r.Kind] = max(oldest[r.Kind], now.Sub(r.CreatedAt))
		}
		for kind, k := range n {
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(k), kind)
			ch <- prometheus.MustNewConstMetric(descPendingAge, prometheus.GaugeValue, oldest[kind].Seconds(), kind)
		}
	}
	grants, err := c.s.Requests.ListRequests(ctx, store.RequestFilter{Kind: store.KindGrant, Statuses: []string{store.StatusActive}})
	if err != nil {
		c.t.m.storeErrors.WithLabelValues("scrape").Inc()
		return
	}
	byConn := map[string]int{}
	for name := range c.t.known {
		byConn[name] = 0
	}
	for _, g := range grants {
		if g.ExpiresAt.After(now) {
			byConn[c.t.Connection(g.Connection)]++
		}
	}
	for conn, k := range byConn {
		ch <- prometheus.MustNewConstMetric(descGrants, prometheus.GaugeValue, float64(k), conn)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

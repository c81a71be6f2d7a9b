package console

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/recorder"
)

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/console/journal?q=x", "/console/journal?q=x"},
		{"/console/", "/console/"},
		{"", "/console/"},
		{"/console", "/console/"},
		{"//evil.example/console/", "/console/"},
		{"https://evil.example/console/", "/console/"},
		{"/console/\\evil", "/console/"},
		{"/console/%0d%0aSet-Cookie:x", "/console/%0d%0aSet-Cookie:x"}, // stays escaped, a path
		{"/console/\r\nLocation: x", "/console/"},
		{"/admin/api/requests", "/console/"},
		{"javascript:alert(1)", "/console/"},
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/console/x", "//evil", "/console/../admin", "https://x/console/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeNext(s)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/console/") || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q leaves the console", s, got)
		}
	})
}

func TestFilterFrom(t *testing.T) {
	for _, tc := range []struct {
		q     string
		err   string
		check func(f filterView) bool
	}{
		{q: "subject=alice&tool=query_db&outcome=ok&q=orders", check: func(f filterView) bool {
			return f.Subject == "alice" && f.Tool == "query_db" && f.Outcome == "ok" && f.Text == "orders"
		}},
		{q: "since=2026-12-01T10:00&until=2026-12-01T11:30:05", check: func(f filterView) bool {
			return f.Since.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) && f.Until.Equal(time.Date(2026, 12, 1, 11, 30, 5, 0, time.UTC))
		}},
		{q: "since=2026-12-01T10:00:00%2B02:00", check: func(f filterView) bool { return f.Since.Equal(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)) }},
		{q: "since=2026-12-01", check: func(f filterView) bool { return f.Since.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) }},
		{q: "since=yesterday", err: "since: not a time"},
		{q: "until=12/01/2026", err: "until: not a time"},
		{q: "q=" + strings.Repeat("x", 201), err: "text: at most 200"},
	} {
		v, _ := url.ParseQuery(tc.q)
		f, err := filterFrom(v)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.q, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.q, err)
		case tc.check != nil && !tc.check(filterView(f)):
			t.Errorf("%s: %+v", tc.q, f)
		}
	}
}

type filterView = recorder.Filter

func FuzzFilterFrom(f *testing.F) {
	f.Add("subject=a&since=2026-01-02T03:04&q=x")
	f.Add("until=2026-13-40")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := filterFrom(v)
		if err == nil && len(fl.Text) > 200 {
			t.Fatalf("text of %d characters accepted", len(fl.Text))
		}
		if err == nil && (!fl.Since.IsZero() && fl.Since.Location() != time.UTC) {
			t.Fatalf("since not in UTC: %v", fl.Since)
		}
	})
}

func BenchmarkFilterFrom(b *testing.B) {
	v, _ := url.ParseQuery("subject=alice&agent=claude&tool=query_db&connection=demo&outcome=ok&since=2026-12-01T10:00&until=2026-12-02T10:00&q=orders")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filterFrom(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildChart(b *testing.B) {
	now := time.Now()
	times := make([]time.Time, 10000)
	outcomes := make([]string, len(times))
	for i := range times {
		times[i] = now.Add(-time.Duration(i) * time.Second)
		outcomes[i] = chartOutcomes[i%len(chartOutcomes)]
	}
	b.ReportAllocs()
	for b.Loop() {
		buildChart(times, outcomes, now.Add(-3*time.Hour), now)
	}
}

func TestBuildChart(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	ch := buildChart([]time.Time{from, from.Add(time.Minute), to.Add(-time.Second), to.Add(time.Hour), from.Add(-time.Hour)},
		[]string{"ok", "denied", "ok", "error", "weird"}, from, to)
	if len(ch.Bars) != chartBuckets || ch.Max != 3 {
		t.Fatalf("bars %d, max %d", len(ch.Bars), ch.Max)
	}
	if ch.Bars[0].Total != 3 || ch.Bars[chartBuckets-1].Total != 2 {
		t.Fatalf("first %d, last %d (out-of-range times go to the ends)", ch.Bars[0].Total, ch.Bars[chartBuckets-1].Total)
	}
	if strings.Join(ch.Outcomes, ",") != "ok,denied,error,weird" {
		t.Fatalf("outcomes %v", ch.Outcomes)
	}
	if ch := buildChart(nil, nil, from, from); len(ch.Bars) != chartBuckets || ch.Max != 0 {
		t.Fatal("empty range")
	}
}

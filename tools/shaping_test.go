package tools

import (
	"context"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/masking"
)

// premaskedTool masks its own result with the pipeline's shaping, as a
// tool streaming a large body does.
type premaskedTool struct {
	fakeTool
	shaping *Shaping
}

func (p *premaskedTool) Execute(ctx context.Context, c *Call) (*Result, error) {
	sh := &c.Shaping
	if sh.Masker == nil {
		return nil, context.Canceled
	}
	p.shaping = sh
	counts := masking.Counts{}
	// The tool's own masking decided to keep the address (a column rule
	// it applied, say): the pipeline must not second-guess it.
	text := sh.Masker.MaskText("ssn 536-90-1234, shown as u***@example.com", counts) + "; kept ops@example.com"
	return &Result{Text: text, Structured: map[string]any{"body": text}, Masked: true, MaskCounts: counts}, nil
}

// A result the tool masked itself is not masked again (a partial mask
// stays as it is), and its counts are the journal's.
func TestPremaskedResult(t *testing.T) {
	j := &memJournal{}
	pt := &premaskedTool{}
	p := newTestPipeline(t, j)
	req := mcp.CallToolRequest{}
	req.Params.Name = "fake"
	req.Params.Arguments = map[string]any{"access": "read"}
	res, err := p.Handle(pt)(identity.NewContext(context.Background(), analyst), req)
	if err != nil || res.IsError {
		t.Fatalf("call failed: %v %+v", err, res)
	}
	if pt.shaping == nil || pt.shaping.Masker != p.masker {
		t.Fatal("the tool did not get the pipeline's masker")
	}
	want := "ssn [SSN], shown as u***@example.com; kept ops@example.com"
	if got := res.StructuredContent.(map[string]any)["body"]; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	recs := j.records(t)
	f := recs[len(recs)-1]
	if f.Masked[string(masking.SSN)] != 1 || len(f.Masked) != 1 {
		t.Errorf("journal counts %v, want one SSN", f.Masked)
	}
}

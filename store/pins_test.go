package store

import (
	"context"
	"errors"
	"testing"
)

// testPinStore exercises a PinStore; a PostgreSQL store can run it too.
func testPinStore(t *testing.T, ps PinStore) {
	ctx := context.Background()
	// First sight: new (not accepted), unless acceptNew.
	p, changed, err := ps.ObservePin(ctx, "gh", "create_issue", "h1", `{"name":"create_issue"}`, false)
	if err != nil || !changed || p.State() != PinNew || p.AcceptedHash != "" {
		t.Fatalf("first sight: %+v %v %v", p, changed, err)
	}
	p, changed, err = ps.ObservePin(ctx, "gh", "get_issue", "g1", `{}`, true)
	if err != nil || !changed || p.State() != PinAccepted || p.AcceptedBy != "accept_new" {
		t.Fatalf("accept_new: %+v %v %v", p, changed, err)
	}
	// The same definition again is no change.
	if _, changed, err = ps.ObservePin(ctx, "gh", "get_issue", "g1", `{}`, true); err != nil || changed {
		t.Fatalf("same again: %v %v", changed, err)
	}
	// Accepting needs the hash last seen.
	if _, err := ps.AcceptPin(ctx, "gh", "create_issue", "other", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("accept of another hash: %v", err)
	}
	if p, err = ps.AcceptPin(ctx, "gh", "create_issue", "h1", "alice"); err != nil || p.State() != PinAccepted || p.AcceptedBy != "alice" {
		t.Fatalf("accept: %+v %v", p, err)
	}
	// A changed definition is changed, never auto-accepted.
	p, changed, err = ps.ObservePin(ctx, "gh", "get_issue", "g2", `{"description":"new"}`, true)
	if err != nil || !changed || p.State() != PinChanged || p.AcceptedHash != "g1" || p.SeenDefinition != `{"description":"new"}` {
		t.Fatalf("changed: %+v %v %v", p, changed, err)
	}
	// Changing back to the accepted one is accepted again.
	if p, _, err = ps.ObservePin(ctx, "gh", "get_issue", "g1", `{}`, false); err != nil || p.State() != PinAccepted {
		t.Fatalf("back: %+v %v", p, err)
	}
	if _, _, err := ps.ObservePin(ctx, "fs", "read_file", "r1", `{}`, false); err != nil {
		t.Fatal(err)
	}
	all, err := ps.ListPins(ctx, "")
	if err != nil || len(all) != 3 || all[0].Connection != "fs" {
		t.Fatalf("list all: %d %v", len(all), err)
	}
	gh, err := ps.ListPins(ctx, "gh")
	if err != nil || len(gh) != 2 || gh[0].Tool != "create_issue" {
		t.Fatalf("list gh: %d %v", len(gh), err)
	}
	if _, err := ps.AcceptPin(ctx, "gh", "nope", "x", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tool: %v", err)
	}
}

// TestPins runs the contract on both stores.
func TestPins(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) { testPinStore(t, openDSN(t, dsn)) })
}

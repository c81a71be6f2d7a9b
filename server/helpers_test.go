package server_test

import (
	"crypto/rsa"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/recorder"
)

type rsaKey = rsa.PrivateKey

func callReq(conn, sql string) mcp.CallToolRequest {
	req := mcp.CallToolRequest{}
	req.Params.Name = "query_db"
	req.Params.Arguments = map[string]any{"connection": conn, "sql": sql}
	return req
}

func countStarted(recs []*recorder.Record, tool string) int {
	n := 0
	for _, r := range recs {
		if r.Tool == tool && r.Type == recorder.Started {
			n++
		}
	}
	return n
}

package server_test

import (
	"crypto/rsa"

	"github.com/mark3labs/mcp-go/mcp"
)

type rsaKey = rsa.PrivateKey

func callReq(conn, sql string) mcp.CallToolRequest {
	req := mcp.CallToolRequest{}
	req.Params.Name = "query_db"
	req.Params.Arguments = map[string]any{"connection": conn, "sql": sql}
	return req
}

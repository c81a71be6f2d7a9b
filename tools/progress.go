package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/airlockhq/airlock/policy/jit"
)

type progressKey struct{}

func withProgress(ctx context.Context, token any) context.Context {
	return context.WithValue(ctx, progressKey{}, token)
}

// ReportProgress sends an MCP progress notification for the current call
// when the client asked for progress (it sent a progressToken). It never
// fails the call.
func ReportProgress(ctx context.Context, progress, total float64, message string) {
	token := ctx.Value(progressKey{})
	srv := server.ServerFromContext(ctx)
	if token == nil || srv == nil {
		return
	}
	params := map[string]any{"progressToken": token, "progress": progress, "message": message}
	if total > 0 {
		params["total"] = total
	}
	_ = srv.SendNotificationToClient(ctx, "notifications/progress", params)
}

// ProgressReporter reports a jit wait as MCP progress notifications.
func ProgressReporter(ctx context.Context, what string) jit.Progress {
	return func(waited, total time.Duration) {
		ReportProgress(ctx, waited.Seconds(), total.Seconds(),
			fmt.Sprintf("%s (%ds of %ds)", what, int(waited.Seconds()), int(total.Seconds())))
	}
}

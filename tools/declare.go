package tools

import "github.com/airlockhq/airlock/config"

// Declarer is implemented by a kind's tool that can also serve tools an
// operator declares in config (tools: in airlock.yaml) on its connections.
type Declarer interface {
	// DeclaredKinds are the declared-tool kinds it builds (e.g. "sql").
	DeclaredKinds() []string
	Declare(d *config.DeclaredTool) (Tool, error)
}

// Scoped is implemented by tools that act on connections: tools/list shows
// a principal only the tools whose connections its groups may use. Tools
// without it (access management) are shown to everyone.
type Scoped interface {
	Connections() []string
}

package tools

// ToolSet is a set of tools a kind learns at start (an upstream MCP
// server's tools): the gateway registers each of Tools like any other tool
// and closes the set (io.Closer) when it stops.
type ToolSet interface {
	Tools() []Tool
}

// Withholder is implemented by tools that can be held back from agents
// while they stay registered (an upstream tool whose definition changed and
// waits for an admin): tools/list omits a withheld tool, and its Parse
// refuses the call.
type Withholder interface {
	Withheld() bool
}

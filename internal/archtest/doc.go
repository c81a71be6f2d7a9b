// Package archtest holds repository-wide tests: every package has a doc
// comment, and the domain packages never import the adapters above them.
package archtest

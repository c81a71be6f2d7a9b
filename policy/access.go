// Package policy decides whether a classified tool call may run: access
// classes, access rules per group and connection, and (in later stages)
// just-in-time grants and approvals. It does no I/O of its own.
package policy

import "fmt"

// Access is the class of effect a call has on its target.
type Access string

// Access classes, from least to most powerful.
const (
	Read  Access = "read"
	Write Access = "write"
	DDL   Access = "ddl"
	Admin Access = "admin"
)

// AccessClasses lists every access class in increasing order of power.
var AccessClasses = []Access{Read, Write, DDL, Admin}

// ParseAccess returns the Access named by s.
func ParseAccess(s string) (Access, error) {
	for _, a := range AccessClasses {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown access class %q (want read, write, ddl or admin)", s)
}

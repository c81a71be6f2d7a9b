//go:build !unix

package store

import "testing"

func helperUnix(*testing.T) {}

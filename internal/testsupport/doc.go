// Package testsupport holds the few helpers that tests across the module
// share. Only _test.go files import it.
package testsupport

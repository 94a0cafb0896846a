// Package e2e holds tests and benchmarks that run several Sitewarden parts
// together as real processes, and the architecture tests that keep the
// module's dependency rules and documentation rules true.
package e2e

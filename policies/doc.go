// Package policies is Sitewarden's scope language and policy engine.
//
// A scope is a set of YAML documents (apiVersion sitewarden.dev/v1, kind
// Scope) that say, for one client, which plugins are trusted, which agents
// exist, what each may do to what, in which mode and with which budget. See
// docs/policy.md for the language.
//
// Compile turns the documents into an immutable *Scope once; Scope.Decide
// then answers many requests concurrently: default deny, deny rules win,
// approval beats allow, conditions in CEL (variables agent, workflow,
// action, target, goal, now) with a cost limit. An Engine holds the scope in
// use and swaps in a new one atomically.
//
// NewBundle signs a scope's canonical bytes into a *pb.ScopeBundle for the
// runners; Verify checks a bundle (signature, client, expiry, rollback) and
// compiles it. RunTests runs policy test files (kind ScopeTest) and Diff
// lists what a change widens or narrows.
package policies

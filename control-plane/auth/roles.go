package auth

// Role is what a person is allowed to do.
type Role string

// Roles.
const (
	RoleAdmin              Role = "admin"
	RoleGovernanceLead     Role = "governance_lead"
	RoleSupervisor         Role = "supervisor"
	RoleOperationsEngineer Role = "operations_engineer"
	// RoleClientViewer reads one client's data and changes nothing.
	RoleClientViewer Role = "client_viewer"
)

// Roles lists every role.
func Roles() []Role {
	return []Role{RoleAdmin, RoleGovernanceLead, RoleSupervisor, RoleOperationsEngineer, RoleClientViewer}
}

// Valid reports whether r is a defined role.
func (r Role) Valid() bool {
	for _, x := range Roles() {
		if r == x {
			return true
		}
	}
	return false
}

// Permission is one kind of action.
type Permission string

// Permissions.
const (
	PermRead             Permission = "read"              // sites, escalations, approvals, goals
	PermEscalationsWrite Permission = "escalations.write" // claim, resolve
	PermApprovalsDecide  Permission = "approvals.decide"  // approve, deny
	PermGoalsSubmit      Permission = "goals.submit"
	PermEnroll           Permission = "enroll" // create enrollment tokens
	PermOwnTokens        Permission = "tokens.own"
	PermAdmin            Permission = "admin"          // users and everyone's tokens
	PermSamplesGrade     Permission = "samples.grade"  // grade review samples
	PermScopePropose     Permission = "scopes.propose" // propose a scope change
	PermScopeApprove     Permission = "scopes.approve" // approve or reject another person's proposal
)

// grants is the access matrix; docs/api.md shows it as a table.
func grants(r Role) []Permission {
	switch r {
	case RoleAdmin:
		return []Permission{PermRead, PermEscalationsWrite, PermApprovalsDecide, PermGoalsSubmit, PermEnroll, PermOwnTokens, PermAdmin,
			PermSamplesGrade, PermScopePropose, PermScopeApprove}
	case RoleGovernanceLead:
		return []Permission{PermRead, PermEscalationsWrite, PermApprovalsDecide, PermOwnTokens, PermSamplesGrade, PermScopePropose, PermScopeApprove}
	case RoleSupervisor:
		return []Permission{PermRead, PermEscalationsWrite, PermApprovalsDecide, PermGoalsSubmit, PermOwnTokens, PermSamplesGrade, PermScopePropose}
	case RoleOperationsEngineer:
		return []Permission{PermRead, PermGoalsSubmit, PermEnroll, PermOwnTokens, PermScopePropose}
	case RoleClientViewer:
		return []Permission{PermRead, PermOwnTokens}
	}
	return nil
}

// Allowed reports whether role r holds permission p.
func Allowed(r Role, p Permission) bool {
	for _, g := range grants(r) {
		if g == p {
			return true
		}
	}
	return false
}

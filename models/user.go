package models

// UserPage is one page of an organization's users.
type UserPage struct {
	Items   []*User
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}

// CreateUserInput describes a new member of the caller's organization.
type CreateUserInput struct {
	Email    string
	Password string
	Role     Role
}

// UpdateUserInput changes a user partially: nil fields stay as they are.
type UpdateUserInput struct {
	Email    *string
	Password *string
	Role     *Role
}

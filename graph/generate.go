// Package graph holds the GraphQL schema (schema/*.graphqls) and the code
// gqlgen generates from it. Run go generate ./graph after a schema change.
package graph

//go:generate go -C .. run ./tools/gqlgen

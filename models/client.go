package models

import "context"

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the caller's network address (the
// host only), which per-address throttles key on.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFrom returns the caller's address, or "" when unknown.
func ClientAddrFrom(ctx context.Context) string {
	addr, _ := ctx.Value(clientAddrKey{}).(string)
	return addr
}

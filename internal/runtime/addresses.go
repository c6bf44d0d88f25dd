package runtime

import (
	"context"
	"net"
	"strconv"
	"strings"
)

// replicaHost is where the local driver's replicas listen, as seen from
// any instance on this machine.
const replicaHost = "127.0.0.1"

// Address is where the replica listens: its Host (a pod's IP), or the
// local driver's loopback.
func (r Replica) Address() string {
	host := r.Host
	if host == "" {
		host = replicaHost
	}
	return net.JoinHostPort(host, strconv.Itoa(r.Port))
}

// publishAddresses records the agent's replicas that are up in
// replica_addresses when they changed, so that the endpoint proxy of every
// instance, not only this leader's, reaches them.
func (m *Manager) publishAddresses(ctx context.Context, rec *agentRecord) {
	var addrs []string
	for _, rep := range m.driver.Replicas(rec.id) {
		if rep.Up {
			addrs = append(addrs, rep.Address())
		}
	}
	joined := strings.Join(addrs, ",")
	if rec.published != nil && *rec.published == joined {
		return
	}
	_, err := m.db.NewRaw(`INSERT INTO replica_addresses (agent_id, addresses) VALUES (?, ?)
ON CONFLICT (agent_id) DO UPDATE SET addresses = EXCLUDED.addresses`, rec.id, joined).Exec(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("runtime: record replica addresses", "agent", rec.id, "err", err)
		}
		return
	}
	rec.published = &joined
}

// recordedAddresses returns the id of the agent named name of the
// organization orgSlug (the one created last) and the addresses the
// leader recorded for it, and whether there is such an agent.
func (m *Manager) recordedAddresses(ctx context.Context, orgSlug, name string) (string, []string, bool) {
	var rows []struct {
		ID        string  `bun:"id"`
		Addresses *string `bun:"addresses"`
	}
	err := m.db.NewSelect().TableExpr("agents AS a").
		Join("JOIN organizations AS o ON o.id = a.org_id").
		Join("LEFT JOIN replica_addresses AS r ON r.agent_id = a.id").
		ColumnExpr("a.id, r.addresses").
		Where("o.slug = ?", orgSlug).Where("a.name = ?", name).
		OrderExpr("a.created_at DESC, a.id DESC").Limit(1).Scan(ctx, &rows)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("runtime: read replica addresses", "agent", name, "err", err)
		}
		return "", nil, false
	}
	if len(rows) == 0 {
		return "", nil, false
	}
	if rows[0].Addresses == nil || *rows[0].Addresses == "" {
		return rows[0].ID, nil, true
	}
	return rows[0].ID, strings.Split(*rows[0].Addresses, ","), true
}

// OnRemoteBytes sets what is told the bytes each endpoint request carried
// to an agent this Manager does not run (it does not lead), so that the
// leader meters them (AddMetered). Set it before the proxy serves.
func (m *Manager) OnRemoteBytes(f func(agentID string, n int64)) { m.remoteBytes = f }

// AddMetered counts n bytes another instance's proxy carried to the
// agent, as if this Manager's proxy had.
func (m *Manager) AddMetered(agentID string, n int64) {
	if rec := m.record(agentID); rec != nil {
		rec.metered.Add(n)
		rec.network.Add(n)
	}
}

package app

import (
	"context"
	"net"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/internal/runtime/kube"
)

// kubeConfig is the kubernetes driver's configuration: the agents' pods
// may not reach the database, besides what NEUAIS_KUBE_EGRESS_DENY lists.
func (a *App) kubeConfig(rc runtime.Config) kube.Config {
	k := a.Config.Kube
	var deny []string
	for _, c := range strings.Split(k.EgressDeny, ",") {
		if c = strings.TrimSpace(c); c != "" {
			deny = append(deny, c)
		}
	}
	deny = append(deny, databaseCIDRs(a.Config.DatabaseURL)...)
	return kube.Config{
		Kubeconfig: k.Kubeconfig, Namespace: k.Namespace, RunnerImage: k.RunnerImage,
		PullPolicy: corev1.PullPolicy(k.PullPolicy), ControlURL: k.ControlURL,
		Credential: a.RunnerCredential, EgressDeny: deny, KubeletURL: k.KubeletURL,
		LastLogTime: a.Logs.LastTime,
		Runtime:     rc,
	}
}

// databaseCIDRs are the addresses of a PostgreSQL URL's host, each as a
// one-address CIDR; none for SQLite, a file no pod reaches.
func databaseCIDRs(databaseURL string) []string {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, u.Hostname())
	if err != nil {
		return nil
	}
	var out []string
	for _, ip := range ips {
		if v4 := ip.IP.To4(); v4 != nil {
			out = append(out, v4.String()+"/32")
		} else {
			out = append(out, ip.IP.String()+"/128")
		}
	}
	return out
}

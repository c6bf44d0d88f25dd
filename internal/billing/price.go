// Package billing meters what really ran (replica intervals, endpoint
// bytes, stored bytes), prices it with exact integer arithmetic and closes
// each UTC calendar month into one invoice per organization.
package billing

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/neuais/neuais/models"
)

// GB is the billed gigabyte: 10^9 bytes.
const GB = 1_000_000_000

// Prices are per unit in millionths of the currency unit (micro-units), so
// a price such as 0.05 is held exactly.
type Prices struct {
	ComputeHour int64 // per replica-hour
	StorageGB   int64 // per GB-month
	NetworkGB   int64 // per GB through endpoints
}

// DefaultPrices price the contract's sample (1000 h, 500 GB, 100 GB) at
// exactly 65.00.
var DefaultPrices = Prices{ComputeHour: 50_000, StorageGB: 20_000, NetworkGB: 50_000}

// ParsePrice reads a decimal price ("0.05") into micro-units, refusing
// more than six decimals rather than rounding a price.
func ParsePrice(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" || len(frac) > 6 || strings.ContainsAny(whole+frac, "+-") {
		return 0, fmt.Errorf("billing: price %q: want a non-negative decimal with at most six decimals", s)
	}
	frac += strings.Repeat("0", 6-len(frac))
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w > 1e9 {
		return 0, fmt.Errorf("billing: price %q: want a non-negative decimal with at most six decimals", s)
	}
	return w*1e6 + f, nil
}

// ParsePrices reads "compute=0.05,storage=0.02,network=0.05"; names left
// out keep base's price.
func ParsePrices(base Prices, s string) (Prices, error) {
	p := base
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return p, fmt.Errorf("billing: prices: %q is not name=price", part)
		}
		v, err := ParsePrice(value)
		if err != nil {
			return p, err
		}
		switch strings.TrimSpace(name) {
		case "compute":
			p.ComputeHour = v
		case "storage":
			p.StorageGB = v
		case "network":
			p.NetworkGB = v
		default:
			return p, fmt.Errorf("billing: prices: unknown item %q (compute, storage, network)", name)
		}
	}
	return p, nil
}

// Measure is what a period used, exactly: replica-seconds, stored
// byte-seconds (the month's average is that over the month's seconds) and
// endpoint bytes.
type Measure struct {
	ReplicaSeconds int64
	ByteSeconds    *big.Int
	MonthSeconds   int64
	NetworkBytes   int64
}

// cents returns num/den in cents, rounded half up, where num/den is an
// amount in micro-units.
func cents(num, den *big.Int) models.Cents {
	d := new(big.Int).Mul(den, big.NewInt(10_000))
	q, r := new(big.Int).QuoRem(num, d, new(big.Int))
	if new(big.Int).Mul(r, big.NewInt(2)).Cmp(d) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return models.Cents(q.Int64())
}

// micros returns num/den·10^6 rounded half up, for showing a quantity.
func micros(num, den *big.Int) models.Micros {
	n := new(big.Int).Mul(num, big.NewInt(1e6))
	q, r := new(big.Int).QuoRem(n, den, new(big.Int))
	if new(big.Int).Mul(r, big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return models.Micros(q.Int64())
}

func (m Measure) storageDen() *big.Int {
	return new(big.Int).Mul(big.NewInt(max(m.MonthSeconds, 1)), big.NewInt(GB))
}

func (m Measure) byteSeconds() *big.Int {
	if m.ByteSeconds == nil {
		return new(big.Int)
	}
	return m.ByteSeconds
}

// Figures returns the quantities as shown: hours and GB to six decimals.
func (m Measure) Figures() models.UsageFigures {
	return models.UsageFigures{
		ComputeHours: micros(big.NewInt(m.ReplicaSeconds), big.NewInt(3600)),
		StorageGB:    micros(m.byteSeconds(), m.storageDen()),
		NetworkGB:    micros(big.NewInt(m.NetworkBytes), big.NewInt(GB)),
	}
}

// Cost prices m from its exact quantities, each line rounded half up to
// cents once; the total is the sum of the rounded lines.
func (p Prices) Cost(m Measure) models.UsageCost {
	c := models.UsageCost{
		Compute: cents(new(big.Int).Mul(big.NewInt(m.ReplicaSeconds), big.NewInt(p.ComputeHour)), big.NewInt(3600)),
		Storage: cents(new(big.Int).Mul(m.byteSeconds(), big.NewInt(p.StorageGB)), m.storageDen()),
		Network: cents(new(big.Int).Mul(big.NewInt(m.NetworkBytes), big.NewInt(p.NetworkGB)), big.NewInt(GB)),
	}
	c.Total = c.Compute + c.Storage + c.Network
	return c
}

package webhooks_test

import (
	"os"
	"strings"

	"github.com/neuais/neuais/internal/apitest"
)

// serverEnv is the environment of a killable server on databaseURL and
// dataDir: no runtime, deliveries to 127.0.0.1 allowed, retries a second apart.
func serverEnv(databaseURL, dataDir string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"NEUAIS_ADDR=127.0.0.1:0",
		"NEUAIS_DATA_DIR=" + dataDir,
		"NEUAIS_DATABASE_URL=" + databaseURL,
		"NEUAIS_ADMIN_EMAIL=" + apitest.AdminEmail,
		"NEUAIS_ADMIN_PASSWORD=" + apitest.AdminPassword,
		"NEUAIS_BCRYPT_COST=4",
		"NEUAIS_LOG_LEVEL=error",
		"NEUAIS_RUNTIME_DRIVER=none",
		"NEUAIS_RATE_LIMIT_MIN=1000000",
		"NEUAIS_ALLOW_PRIVATE_WEBHOOK_URLS=true",
		"NEUAIS_WEBHOOK_TIMEOUT=5s",
		"NEUAIS_WEBHOOK_RETRY_SCHEDULE=" + strings.TrimSuffix(strings.Repeat("1s,", 30), ","),
	}
}

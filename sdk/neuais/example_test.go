package neuais_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/neuais/neuais/sdk/neuais"
)

// The reference's lines, as written but for the token; NEUAIS_URL names
// the server (TestMain's).
func Example() {
	client := neuais.NewClient(token) // the reference: neuais.NewClient("your-token")
	agents, err := client.Agents().List()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(agents.Limit, agents.Offset)
	// Output: 100 0
}

func ExampleAgentsService() {
	client := neuais.NewClient(token)
	agent, err := client.Agents().Create(neuais.CreateAgentRequest{
		Name: "example-agent", Runtime: "go", BinaryURL: agentURL,
		Config:      &neuais.AgentConfig{CPU: "0.5", Memory: "256Mi", Replicas: 1},
		Environment: map[string]string{"TICK_MS": "20"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(agent.Name, agent.Status)
	agent, err = client.Agents().Wait(agent.ID, "running", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(agent.Status, agent.Replicas)
	for a, err := range client.Agents().All(&neuais.ListAgentsOptions{Status: "running"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a.Name)
	}
	// Output:
	// example-agent deploying
	// running 1
	// example-agent
}

func ExampleAgentsService_FollowLogs() {
	client := neuais.NewClient(token)
	page, err := client.Agents().List(&neuais.ListAgentsOptions{NamePrefix: "example-"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for line, err := range client.Agents().FollowLogsContext(ctx, page.Agents[0].ID, &neuais.LogOptions{Level: "warn"}) {
		if err != nil {
			log.Fatal(err)
		}
		// The filter keeps warn and error lines, which the agent writes on
		// stdout and stderr: their order between the two is not fixed.
		fmt.Println(line.Level == "warn" || line.Level == "error")
		if n++; n == 2 {
			break
		}
	}
	// Output:
	// true
	// true
}

func ExampleAgentsService_Logs() {
	client := neuais.NewClient(token)
	page, err := client.Agents().List(&neuais.ListAgentsOptions{NamePrefix: "example-"})
	if err != nil {
		log.Fatal(err)
	}
	lines, err := client.Agents().Logs(page.Agents[0].ID, &neuais.LogOptions{Tail: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(lines))
	// Output: 3
}

func ExampleAgentsService_Metrics() {
	client := neuais.NewClient(token)
	page, err := client.Agents().List(&neuais.ListAgentsOptions{NamePrefix: "example-"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := client.Agents().Metrics(page.Agents[0].ID, "1h", "memory")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.CPU == nil)
	// Output: true
}

func ExampleUsersService() {
	client := neuais.NewClient(token)
	user, err := client.Users().Create(neuais.CreateUserRequest{Email: "example@example.com", Password: "example-password", Role: "developer"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(user.Email, user.Role)
	if _, err := client.Users().Create(neuais.CreateUserRequest{Email: "example@example.com", Password: "example-password", Role: "viewer"}); err != nil {
		fmt.Println(err)
	}
	if err := client.Users().Delete(user.ID); err != nil {
		log.Fatal(err)
	}
	// Output:
	// example@example.com developer
	// neuais: conflict (409): A user with this e-mail already exists [field email]
}

func ExampleServicesService() {
	client := neuais.NewClient(token)
	db, err := client.Services().Status("database")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(db.Name, db.Status)
	// Output: database healthy
}

func ExampleClient_RateLimit() {
	client := neuais.NewClient(token)
	if _, err := client.Services().List(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.RateLimit().Limit)
	// Output: 1000000
}

func ExampleBinariesService() {
	client := neuais.NewClient(token)
	bin, err := client.Binaries().Upload(neuais.UploadBinaryRequest{Content: strings.NewReader("#!/bin/sh\nsleep 600\n")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bin.Size, bin.URL == "neuais://binaries/"+bin.ID)
	agent, err := client.Agents().Create(neuais.CreateAgentRequest{Name: "example-uploaded", Runtime: "native", BinaryURL: bin.URL})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Binaries().Delete(bin.ID); neuais.IsCode(err, "conflict") {
		fmt.Println("in use")
	}
	if err := client.Agents().Delete(agent.ID); err != nil {
		log.Fatal(err)
	}
	content, err := client.Binaries().Content(bin.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer content.Close()
	data, err := io.ReadAll(content)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", data)
	if err := client.Binaries().Delete(bin.ID); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 20 true
	// in use
	// "#!/bin/sh\nsleep 600\n"
}

func ExampleTokensService() {
	client := neuais.NewClient(token)
	tok, err := client.Tokens().Create(neuais.CreateAPITokenRequest{Name: "example-ci", Role: "viewer"})
	if err != nil {
		log.Fatal(err)
	}
	ci := neuais.NewClient(tok.Token) // the secret, shown only here
	if _, err := ci.Services().List(); err != nil {
		log.Fatal(err)
	}
	for t, err := range client.Tokens().All() {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.Name, t.Role)
	}
	if err := client.Tokens().Revoke(tok.ID); err != nil {
		log.Fatal(err)
	}
	_, err = ci.Services().List()
	fmt.Println(neuais.IsCode(err, "unauthorized"))
	// Output:
	// example-ci viewer
	// true
}

func ExampleEventsService() {
	client := neuais.NewClient(token)
	agent, err := client.Agents().Create(neuais.CreateAgentRequest{Name: "events-demo", Runtime: "native", BinaryURL: agentURL})
	if err != nil {
		log.Fatal(err)
	}
	created, err := client.Events().List(&neuais.ListEventsOptions{AgentID: agent.ID, Type: "agent.created"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(created.Total, created.Events[0].Data.Name)
	if _, err := client.Agents().Update(agent.ID, neuais.UpdateAgentRequest{Environment: map[string]string{"MODE": "demo"}}); err != nil {
		log.Fatal(err)
	}
	// After resumes after an event id (here the creation), as a
	// reconnecting follow does with Last-Event-ID.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := &neuais.FollowEventsOptions{AgentID: agent.ID, Type: "agent.updated", After: created.Events[0].ID}
	for ev, err := range client.Events().FollowContext(ctx, opts) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Event, ev.Data.Changed)
		break
	}
	if err := client.Agents().Delete(agent.ID); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 1 events-demo
	// agent.updated [environment]
}

func ExampleWebhooksService() {
	type delivery struct {
		header http.Header
		body   []byte
	}
	received := make(chan delivery, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // verify the body as received, not re-encoded
		received <- delivery{r.Header, body}
	}))
	defer receiver.Close()

	client := neuais.NewClient(token)
	hook, err := client.Webhooks().Create(neuais.CreateWebhookRequest{URL: receiver.URL, Events: []string{"agent.deleted"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(hook.Secret, "whsec_")) // the secret, shown only here
	test, err := client.Webhooks().Test(hook.ID)
	if err != nil {
		log.Fatal(err)
	}
	d := <-received
	fmt.Println(test.Event, neuais.VerifyWebhook(hook.Secret, d.header, d.body))
	paused := false
	w, err := client.Webhooks().Update(hook.ID, neuais.UpdateWebhookRequest{Active: &paused})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Status)
	if err := client.Webhooks().Delete(hook.ID); err != nil {
		log.Fatal(err)
	}
	// Output:
	// true
	// webhook.test <nil>
	// inactive
}

func ExampleBillingService() {
	client := neuais.NewClient(token)
	usage, err := client.Billing().Usage(&neuais.UsageOptions{Period: "last_month", ByAgent: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(usage.Usage.NetworkGB, usage.Cost.Network, usage.Cost.Total, len(usage.Agents))
	for inv, err := range client.Billing().AllInvoices() {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(inv.Period == usage.Period, inv.Amount, inv.Status)
		detail, err := client.Billing().Invoice(inv.ID)
		if err != nil {
			log.Fatal(err)
		}
		for _, line := range detail.Lines {
			fmt.Println(line.Item, line.Quantity, line.Unit, line.Amount)
		}
	}
	// Output:
	// 123.4 6.17 6.17 1
	// true 6.17 open
	// compute 0 hour 0.00
	// storage 0 GB 0.00
	// network 123.4 GB 6.17
}

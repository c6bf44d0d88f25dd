package neuais_test

import (
	"context"
	"fmt"
	"log"
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

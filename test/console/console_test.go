// Package console_test drives the dashboard, GraphiQL and /docs in headless
// Chromium against a whole server on 127.0.0.1 that runs a real agent, with
// every other origin blocked and the browser console checked for errors.
package console_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

var agentPath string

func TestMain(m *testing.M) { os.Exit(apitest.RunWithAgent(m, "../live/testdata/agent", &agentPath)) }

// start runs a server that really runs agents, sampling every second.
func start(t testing.TB) *apitest.Server {
	t.Helper()
	return apitest.Start(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"), func(c *config.Config) {
		c.RuntimeDriver = config.RuntimeLocal
		c.AllowFileURLs = true
		c.MetricsInterval = time.Second
	})
}

// js quotes s as a JavaScript string literal.
func js(s string) string { return fmt.Sprintf("%q", s) }

// signIn fills the sign-in form and waits for the agents page.
func signIn(t testing.TB, b *browser, email, password string) {
	t.Helper()
	b.run(t, "sign in",
		chromedp.WaitVisible(chromedp.CSS(`input[type=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[type=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[type=password]`), password),
		chromedp.Click(chromedp.CSS(`.signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#agents-title`)),
	)
	b.waitJS(t, "signed-in user shown", `document.querySelector('.me').textContent.includes(`+js(email)+`)`)
}

func signOut(t testing.TB, b *browser) {
	t.Helper()
	b.run(t, "sign out",
		chromedp.Click(chromedp.CSS(`.top button`)),
		chromedp.WaitVisible(chromedp.CSS(`.signin`)),
	)
	b.waitJS(t, "token forgotten", `sessionStorage.getItem('neuais.token') === null`)
}

func TestDashboard(t *testing.T) {
	chromiumPath(t)
	s := start(t)
	b := newBrowser(t, s.URL)

	b.run(t, "open dashboard", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`.signin`)))
	b.screenshot(t, "signin")

	t.Run("SignInRejectsWrongPasswordInWords", func(t *testing.T) {
		b.run(t, "wrong password",
			chromedp.SendKeys(chromedp.CSS(`input[type=email]`), apitest.AdminEmail),
			chromedp.SendKeys(chromedp.CSS(`input[type=password]`), "wrong-password"),
			chromedp.Click(chromedp.CSS(`.signin button[type=submit]`)),
		)
		b.waitJS(t, "error in words", `(document.querySelector('.signin .error') || {}).textContent?.includes('[unauthorized]')`)
		b.run(t, "reset", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.signin`)))
		b.check(t)
	})

	t.Run("SignIn", func(t *testing.T) {
		signIn(t, b, apitest.AdminEmail, apitest.AdminPassword)
		b.check(t)
	})

	name := "browser-agent"
	t.Run("NewAgentGoesFromDeployingToRunning", func(t *testing.T) {
		// Record every status the row shows, from its first appearance.
		b.waitJS(t, "observer", `(() => {
			window.seen = [];
			new MutationObserver(() => {
				const st = document.querySelector('tr[data-agent="`+name+`"] .st');
				if (st && window.seen[window.seen.length - 1] !== st.textContent.trim()) window.seen.push(st.textContent.trim());
			}).observe(document.body, { subtree: true, childList: true, characterData: true });
			return true;
		})()`)
		b.run(t, "create agent",
			chromedp.Click(chromedp.CSS(`.create summary`)),
			chromedp.SendKeys(chromedp.CSS(`.create input[autocomplete=off]`), name),
			chromedp.SendKeys(chromedp.CSS(`.create input[placeholder^=https]`), "file://"+agentPath),
			chromedp.Click(chromedp.CSS(`.create button[type=submit]`)),
		)
		b.waitJS(t, "running without a reload", `window.seen.some(s => s.endsWith('running'))`)
		seen := eval[[]string](t, b, `window.seen`)
		if len(seen) < 2 || !strings.HasSuffix(seen[0], "deploying") {
			t.Errorf("row showed %q, want deploying then running", seen)
		}
		b.screenshot(t, "agents")
		b.check(t)
	})

	var id string
	t.Run("LogLineOfTheAgentAppears", func(t *testing.T) {
		b.run(t, "open agent",
			chromedp.Click(chromedp.CSS(`tr[data-agent="`+name+`"] a`)),
			chromedp.WaitVisible(chromedp.CSS(`#agent-title`)),
		)
		b.waitJS(t, "log line", `[...document.querySelectorAll('.logview .line')].some(l => /INFO line \d+/.test(l.textContent))`)
		b.waitJS(t, "charts", `document.querySelectorAll('.chart canvas').length === 3`)
		id = eval[string](t, b, `location.hash.split('/')[2]`)
		b.screenshot(t, "agent")
		b.check(t)
	})

	t.Run("ScaleChangesTheReplicaCount", func(t *testing.T) {
		b.run(t, "scale to 2",
			chromedp.SetValue(chromedp.CSS(`.actions input[type=number]`), ""),
			chromedp.SendKeys(chromedp.CSS(`.actions input[type=number]`), "2"),
			chromedp.Click(chromedp.CSS(`.actions form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog.confirm`)),
			chromedp.Click(chromedp.CSS(`dialog.confirm button.danger`)),
		)
		b.waitJS(t, "replicas 2", `document.querySelector('#agent-replicas').textContent === '2'`)
		res := s.Do(http.MethodGet, "/v1/agents/"+id, s.AdminToken, nil)
		if got := res.JSON(t)["replicas"]; got != float64(2) {
			t.Errorf("replicas through the API = %v, want 2", got)
		}
		b.check(t)
	})

	t.Run("ServicesHealthLive", func(t *testing.T) {
		b.run(t, "services", chromedp.Navigate(s.URL+"/#/services"), chromedp.WaitVisible(chromedp.CSS(`tr[data-service=database]`)))
		b.waitJS(t, "healthy", `document.querySelector('tr[data-service=database]').textContent.includes('healthy')`)
		b.screenshot(t, "services")
		b.check(t)
	})

	t.Run("GraphiQLRunsQueryAndSubscriptionOffline", func(t *testing.T) {
		b.run(t, "open GraphiQL", chromedp.Navigate(s.URL+"/graphql"), chromedp.WaitVisible(chromedp.CSS(`.graphiql-container`)))
		b.run(t, "run query", chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)))
		b.waitJS(t, "query result", resultContains(apitest.AdminEmail))
		b.screenshot(t, "graphiql")
		b.waitJS(t, "subscription document", `(() => {
			document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue('subscription Tail { agentLogs(id: "`+id+`", tail: 1) { message } }');
			return true;
		})()`)
		// GraphiQL parses the document after a change, and only a parsed
		// subscription goes to the WebSocket.
		b.waitJS(t, "document parsed", `document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.documentAST?.definitions[0]?.operation === 'subscription'`)
		b.run(t, "run subscription", chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)))
		b.waitJS(t, "subscription result", resultContains("agentLogs"))
		b.waitJS(t, "live line", `/INFO line \d+/.test(document.querySelector('.result-window').textContent)`)
		b.run(t, "stop subscription", chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)))
		b.check(t)
	})

	t.Run("DocsRenders", func(t *testing.T) {
		b.run(t, "open docs", chromedp.Navigate(s.URL+"/docs"), chromedp.WaitVisible(chromedp.CSS(`.swagger-ui .info .title`)))
		b.waitJS(t, "operations", `[...document.querySelectorAll('.opblock-summary-path')].some(p => p.textContent.includes('/agents/{id}/scale'))`)
		b.screenshot(t, "docs")
		b.check(t)
	})

	t.Run("SignOutForgetsTheToken", func(t *testing.T) {
		b.run(t, "back to dashboard", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#agents-title`)))
		signOut(t, b)
		b.run(t, "reload stays signed out", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.signin`)))
		b.check(t)
	})

	t.Run("ViewerSeesNoActionButtons", func(t *testing.T) {
		s.CreateUser(s.AdminToken, "viewer@example.com", models.RoleViewer)
		signIn(t, b, "viewer@example.com", apitest.UserPassword)
		if b.exists(t, `.create`) {
			t.Error("viewer sees the create form")
		}
		b.run(t, "open agent", chromedp.Navigate(s.URL+"/#/agents/"+id), chromedp.WaitVisible(chromedp.CSS(`#agent-title`)))
		b.waitJS(t, "agent shown", `document.querySelector('#agent-replicas') !== null`)
		if b.exists(t, `.actions`) || b.exists(t, `button.danger`) {
			t.Error("viewer sees action buttons")
		}
		b.screenshot(t, "agent-viewer")
		signOut(t, b)
		b.check(t)
	})

	t.Run("ForcedActionRefusedWithTheAPIError", func(t *testing.T) {
		// A developer opens the agent; demoted meanwhile, the page still
		// shows the buttons, and the API refuses the action.
		dev := s.CreateUser(s.AdminToken, "dev@example.com", models.RoleDeveloper)
		signIn(t, b, dev.Email, apitest.UserPassword)
		b.run(t, "open agent", chromedp.Navigate(s.URL+"/#/agents/"+id), chromedp.WaitVisible(chromedp.CSS(`.actions`)))
		if res := s.Do(http.MethodPut, "/v1/users/"+dev.ID, s.AdminToken, map[string]any{"role": "viewer"}); res.Status != http.StatusOK {
			t.Fatalf("demote: %d %s", res.Status, res.Body)
		}
		b.run(t, "stop",
			chromedp.Click(chromedp.CSS(`.actions button`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog.confirm`)),
			chromedp.Click(chromedp.CSS(`dialog.confirm button.danger`)),
		)
		b.waitJS(t, "error shown", `[...document.querySelectorAll('.error')].some(e => e.textContent.includes('[forbidden]'))`)
		b.screenshot(t, "forbidden")
		res := s.Do(http.MethodGet, "/v1/agents/"+id, s.AdminToken, nil)
		if got := res.JSON(t)["status"]; got != "running" {
			t.Errorf("status after the refused stop = %v, want running", got)
		}
		b.check(t)
	})
}

// resultContains is a poll expression: GraphiQL's result pane holds text.
func resultContains(text string) string {
	return `(document.querySelector('.result-window') || {}).textContent?.includes(` + js(text) + `)`
}

func (b *browser) exists(t testing.TB, selector string) bool {
	t.Helper()
	return eval[bool](t, b, `document.querySelector(`+js(selector)+`) !== null`)
}

package neuais_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/sdk/neuais"
)

// TestModelsMatchOpenAPI keeps the models from drifting from the server:
// each model's JSON fields (nested ones as a.b, list items as a.[]b) are
// exactly those of its schema in GET /v1/openapi.json, or, for the
// answers that carry only some of a model's fields, a subset of them.
func TestModelsMatchOpenAPI(t *testing.T) {
	s := apitest.Start(t, "")
	res := s.Do(http.MethodGet, "/v1/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]operation `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, tc := range []struct {
		model        any
		method, path string
		part         string // "request" or a status
		subset       bool   // the schema has only some of the model's fields
	}{
		{neuais.AgentList{}, "get", "/agents", "200", true},
		{neuais.Agent{}, "get", "/agents/{id}", "200", false},
		{neuais.Agent{}, "post", "/agents", "201", true},
		{neuais.CreateAgentRequest{}, "post", "/agents", "request", false},
		{neuais.UpdateAgentRequest{}, "put", "/agents/{id}", "request", false},
		{neuais.Agent{}, "put", "/agents/{id}", "200", false},
		{neuais.Agent{}, "post", "/agents/{id}/start", "200", false},
		{neuais.Agent{}, "post", "/agents/{id}/stop", "200", false},
		{neuais.Agent{}, "post", "/agents/{id}/restart", "200", false},
		{neuais.Agent{}, "post", "/agents/{id}/scale", "200", false},
		{neuais.Agent{}, "get", "/agents/{id}/wait", "200", false},
		{struct {
			Logs []neuais.LogLine `json:"logs"`
		}{}, "get", "/agents/{id}/logs", "200", false},
		{struct {
			Metrics neuais.Metrics `json:"metrics"`
		}{}, "get", "/agents/{id}/metrics", "200", false},
		{neuais.Token{}, "post", "/auth/token", "200", false},
		{neuais.ServiceList{}, "get", "/services", "200", true},
		{neuais.Service{}, "get", "/services/{name}/status", "200", false},
		{neuais.UserList{}, "get", "/users", "200", false},
		{neuais.User{}, "get", "/users/{id}", "200", false},
		{neuais.User{}, "post", "/users", "201", false},
		{neuais.CreateUserRequest{}, "post", "/users", "request", false},
		{neuais.UpdateUserRequest{}, "put", "/users/{id}", "request", false},
		{neuais.User{}, "put", "/users/{id}", "200", false},
		{neuais.BinaryList{}, "get", "/binaries", "200", false},
		{neuais.Binary{}, "get", "/binaries/{id}", "200", false},
		{neuais.Binary{}, "post", "/binaries", "201", false},
		{neuais.APITokenList{}, "get", "/tokens", "200", false},
		{neuais.NewAPIToken{}, "post", "/tokens", "201", false},
		{neuais.CreateAPITokenRequest{}, "post", "/tokens", "request", false},
		{neuais.EventList{}, "get", "/events", "200", false},
		{neuais.WebhookList{}, "get", "/webhooks", "200", false},
		{neuais.Webhook{}, "get", "/webhooks/{id}", "200", false},
		{neuais.NewWebhook{}, "post", "/webhooks", "201", false},
		{neuais.CreateWebhookRequest{}, "post", "/webhooks", "request", false},
		{neuais.UpdateWebhookRequest{}, "put", "/webhooks/{id}", "request", false},
		{neuais.Webhook{}, "put", "/webhooks/{id}", "200", false},
		{neuais.NewWebhook{}, "post", "/webhooks/{id}/rotate-secret", "200", false},
		{neuais.WebhookDelivery{}, "post", "/webhooks/{id}/test", "202", false},
		{neuais.WebhookDeliveryList{}, "get", "/webhooks/{id}/deliveries", "200", false},
		{neuais.WebhookDelivery{}, "post", "/webhooks/{id}/deliveries/{delivery_id}/retry", "202", false},
		{neuais.Usage{}, "get", "/billing/usage", "200", false},
		{neuais.InvoiceList{}, "get", "/billing/invoices", "200", false},
		{neuais.InvoiceDetail{}, "get", "/billing/invoices/{id}", "200", false},
		{struct {
			Error neuais.Error `json:"error"`
		}{}, "", "", "error", false},
	} {
		name := reflect.TypeOf(tc.model).String() + " " + tc.method + " " + tc.path + " " + tc.part
		var sch *schema
		switch op := doc.Paths[tc.path][tc.method]; {
		case tc.part == "error":
			sch = errorSchema(t, res.Body)
		case tc.part == "request":
			sch = op.RequestBody.Content["application/json"].Schema
		default:
			sch = op.Responses[tc.part].Content["application/json"].Schema
		}
		if sch == nil {
			t.Errorf("%s: no such schema in the document", name)
			continue
		}
		model, server := fieldsOf(reflect.TypeOf(tc.model), ""), sch.fields("")
		for _, f := range server {
			if !slices.Contains(model, f) {
				t.Errorf("%s: the server's field %s is missing from the model", name, f)
			}
		}
		if !tc.subset {
			for _, f := range model {
				if !slices.Contains(server, f) {
					t.Errorf("%s: the model's field %s is not in the server's schema", name, f)
				}
			}
		}
	}
}

type operation struct {
	RequestBody struct {
		Content map[string]struct{ Schema *schema } `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct{ Schema *schema } `json:"content"`
	} `json:"responses"`
}

type schema struct {
	Properties map[string]*schema `json:"properties"`
	Items      *schema            `json:"items"`
}

func (s *schema) fields(prefix string) []string {
	if s.Items != nil {
		return s.Items.fields(prefix + "[]")
	}
	var out []string
	for name, p := range s.Properties {
		out = append(out, prefix+name)
		out = append(out, p.fields(prefix+name+".")...)
	}
	return out
}

func errorSchema(t *testing.T, doc []byte) *schema {
	var d struct {
		Components struct {
			Schemas map[string]*schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d.Components.Schemas["Error"]
}

// fieldsOf lists a type's JSON fields as schema.fields does.
func fieldsOf(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice {
		return fieldsOf(t.Elem(), prefix+"[]")
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		switch {
		case f.Anonymous && tag == "":
			out = append(out, fieldsOf(f.Type, prefix)...)
		case tag != "" && tag != "-":
			out = append(out, prefix+tag)
			out = append(out, fieldsOf(f.Type, prefix+tag+".")...)
		}
	}
	return out
}

package models_test

import (
	"strings"
	"testing"

	"github.com/neuais/neuais/models"
)

func TestMarshalMapIsCompact(t *testing.T) {
	var b strings.Builder
	models.MarshalMap(map[string]any{"LOG_LEVEL": "info"}).MarshalGQL(&b)
	if b.String() != `{"LOG_LEVEL":"info"}` {
		t.Fatalf("got %q", b.String())
	}
	if _, err := models.UnmarshalMap([]any{1}); err == nil {
		t.Fatal("an array was accepted as a Map")
	}
}

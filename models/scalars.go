package models

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalMap writes the Map scalar as compact JSON. gqlgen's own Map
// marshaler ends the object with a newline, inside the response body.
func MarshalMap(m map[string]any) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		data, err := json.Marshal(m)
		if err != nil {
			panic(fmt.Errorf("models: marshal map: %w", err))
		}
		_, _ = w.Write(data)
	})
}

// UnmarshalMap reads the Map scalar: a JSON object. Anything else is
// invalid_request.
func UnmarshalMap(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		// The field is named by the error presenter, from the input path.
		return nil, Invalid("", "must be an object")
	}
	return m, nil
}

// Command gqlgen runs gqlgen's generator on the repository's gqlgen.yml,
// then rewrites two kinds of marshaler in its output:
//
//   - lists of objects that resolve nothing marshal their elements in the
//     caller's goroutine (graph.marshalSlice) instead of one goroutine
//     each (graphql.MarshalSliceConcurrently): such an element only copies
//     fields, so a goroutine per element is pure cost, about a fifth of a
//     100-agent page. Lists whose elements reach a field resolver stay
//     concurrent.
//   - objects whose Go type has an Encodings method (log lines, which
//     every follower of an agent receives) go through graph.marshalShared,
//     which encodes each once per selection instead of once per follower.
//
// Run it from the repository's root: go generate ./graph.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"go/types"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
)

// capture keeps the data gqlgen generated the code from.
type capture struct{ data *codegen.Data }

func (*capture) Name() string { return "sequential-lists" }

func (c *capture) GenerateCode(data *codegen.Data) error {
	c.data = data
	return nil
}

const (
	concurrent = "graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, "
	sequential = "marshalSlice(ctx, len(v), "
)

func main() {
	log.SetFlags(0)
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		log.Fatal(err)
	}
	c := &capture{}
	if err := api.Generate(cfg, api.AddPlugin(c)); err != nil {
		log.Fatal(err)
	}
	funcs := sequentialLists(c.data)
	for name, obj := range sharedObjects(c.data) {
		funcs[name] = obj
	}
	files, err := filepath.Glob(filepath.Join(cfg.Exec.Dir(), "*.generated.go"))
	if err != nil {
		log.Fatal(err)
	}
	rewritten := 0
	for _, file := range files {
		n, err := rewrite(file, funcs)
		if err != nil {
			log.Fatal(err)
		}
		rewritten += n
	}
	if rewritten != len(funcs) {
		log.Fatalf("rewrote %d marshalers of %d: gqlgen's output no longer has the expected shape", rewritten, len(funcs))
	}
}

// sequentialLists returns the marshal functions of the lists whose
// element objects resolve nothing, at any depth.
func sequentialLists(data *codegen.Data) map[string]string {
	funcs := map[string]string{}
	for _, ref := range data.ReferencedTypes {
		if !ref.IsSlice() || ref.Definition == nil || ref.Definition.Kind != ast.Object {
			continue
		}
		if plain(data.Objects, ref.Definition.Name, map[string]bool{}) {
			funcs[ref.MarshalFunc()] = ""
		}
	}
	return funcs
}

// sharedObjects returns the marshal functions of the pointers to objects
// whose Go type has an Encodings method, with the object's name.
func sharedObjects(data *codegen.Data) map[string]string {
	funcs := map[string]string{}
	for _, ref := range data.ReferencedTypes {
		if ref.IsSlice() || !ref.IsPtr() || ref.Definition == nil || ref.Definition.Kind != ast.Object {
			continue
		}
		if types.NewMethodSet(ref.GO).Lookup(nil, "Encodings") != nil {
			funcs[ref.MarshalFunc()] = ref.Definition.Name
		}
	}
	return funcs
}

// plain reports whether the object name and every object its fields
// reach resolve no field through a resolver or a method taking a context.
func plain(objects codegen.Objects, name string, seen map[string]bool) bool {
	if seen[name] {
		return true
	}
	seen[name] = true
	obj := objects.ByName(name)
	if obj == nil || obj.IsConcurrent() {
		return false
	}
	for _, f := range obj.Fields {
		def := f.TypeReference.Definition
		if def == nil {
			continue
		}
		switch def.Kind {
		case ast.Object:
			if !plain(objects, def.Name, seen) {
				return false
			}
		case ast.Interface, ast.Union:
			return false
		}
	}
	return true
}

// rewrite rewrites the functions of funcs in file, a list's to marshal
// sequentially, a shared object's (named by its value) to go through
// marshalShared, and returns how many it changed.
func rewrite(file string, funcs map[string]string) (int, error) {
	info, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	var out bytes.Buffer
	n := 0
	for chunk := range strings.SplitAfterSeq(string(src), "\nfunc ") {
		name, _, _ := strings.Cut(strings.TrimPrefix(chunk, "(ec *executionContext) "), "(")
		obj, ok := funcs[name]
		switch {
		case !ok:
		case obj == "" && strings.Count(chunk, concurrent) == 1:
			chunk = strings.Replace(chunk, concurrent, sequential, 1)
			n++
		case obj != "":
			direct := "return ec._" + obj + "(ctx, sel, v)"
			if strings.Count(chunk, direct) == 1 {
				chunk = strings.Replace(chunk, direct, "return marshalShared(ctx, sel, v, ec._"+obj+")", 1)
				n++
			}
		}
		out.WriteString(chunk)
	}
	if n == 0 {
		return 0, nil
	}
	formatted, err := format.Source(out.Bytes())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, os.WriteFile(file, formatted, info.Mode().Perm())
}

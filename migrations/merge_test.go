package migrations

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMergeCommonWithDialect(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1")}
	common := fstest.MapFS{"20270101000100_add_x.up.sql": file, "20270101000100_add_x.down.sql": file, "README.md": file}
	own := fstest.MapFS{"20261129000100_foundation.up.sql": file, "20261129000100_foundation.down.sql": file}
	merged, err := merge(common, own)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(merged, "*")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"20261129000100_foundation.down.sql", "20261129000100_foundation.up.sql",
		"20270101000100_add_x.down.sql", "20270101000100_add_x.up.sql"}
	if !slices.Equal(names, want) {
		t.Fatalf("merged %v, want %v", names, want)
	}

	own["20270101000100_other.up.sql"] = file
	if _, err := merge(common, own); err == nil || !strings.Contains(err.Error(), "20270101000100") {
		t.Fatalf("an id in both folders: %v, want it refused", err)
	}
}

package web

import (
	"bytes"
	"compress/gzip"
	"path"
	"regexp"
	"strings"
	"testing"
)

// imports matches the static imports of the dashboard's modules.
var imports = regexp.MustCompile(`(?m)(?:^import|\bfrom)\s*'([./][^']+)'`)

// TestDashboardJavaScriptSize: every module the dashboard loads, from
// console/app.js through its imports, gzipped as the server sends them,
// is under 150 KB.
func TestDashboardJavaScriptSize(t *testing.T) {
	const limit = 150 * 1024
	seen := map[string]bool{}
	total := 0
	var walk func(name string)
	walk = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		data, err := files.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, 5) // the level Assets serves
		_, _ = zw.Write(data)
		_ = zw.Close()
		total += buf.Len()
		t.Logf("%-40s %7d bytes, %6d gzipped", name, len(data), buf.Len())
		for _, m := range imports.FindAllStringSubmatch(string(data), -1) {
			imp := m[1]
			if strings.HasPrefix(imp, AssetsPrefix) {
				walk(strings.TrimPrefix(imp, AssetsPrefix))
			} else {
				walk(path.Join(path.Dir(name), imp))
			}
		}
	}
	walk("console/app.js")
	t.Logf("dashboard JavaScript: %d modules, %d bytes gzipped (limit %d)", len(seen), total, limit)
	if len(seen) < 8 {
		t.Errorf("found only %d modules: is the import pattern still right?", len(seen))
	}
	if total >= limit {
		t.Errorf("dashboard JavaScript is %d bytes gzipped, want < %d", total, limit)
	}
}

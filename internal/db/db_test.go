package db_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/neuais/neuais/internal/db"
)

func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	d, err := db.Open(context.Background(), db.Options{DataDir: dir, SQLiteSynchronous: "full"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('secret')"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", db.SQLiteFile, db.SQLiteFile + "-wal", db.SQLiteFile + "-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", fi.Name(), fi.Mode().Perm(), want)
		}
	}
}

func TestSQLiteSynchronous(t *testing.T) {
	for setting, want := range map[string]int{"full": 2, "NORMAL": 1, "extra": 3} {
		d, err := db.Open(context.Background(), db.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "s.db"), SQLiteSynchronous: setting})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := d.QueryRow("PRAGMA synchronous").Scan(&got); err != nil || got != want {
			t.Errorf("%s: synchronous = %d, %v; want %d", setting, got, err, want)
		}
		d.Close()
	}
	_, err := db.Open(context.Background(), db.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "s.db"), SQLiteSynchronous: "sometimes"})
	if err == nil || !strings.Contains(err.Error(), "synchronous") {
		t.Fatalf("bad setting accepted: %v", err)
	}
}

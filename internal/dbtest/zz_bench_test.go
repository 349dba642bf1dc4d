package dbtest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pglocal"
)

func TestZZTiming(t *testing.T) {
	for _, settings := range []map[string]string{
		nil,
		{"wal_level": "minimal", "max_wal_senders": "0"},
		{"wal_level": "minimal", "max_wal_senders": "0", "wal_buffers": "16MB"},
	} {
		dir, _ := os.MkdirTemp("", "zz")
		defer os.RemoveAll(dir)
		s, err := pglocal.Start(context.Background(), pglocal.Config{Dir: dir, Settings: settings})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		for _, strat := range []string{"WAL_LOG", "FILE_COPY"} {
			start := time.Now()
			for i := 0; i < 5; i++ {
				if _, err := c.Exec(ctx, fmt.Sprintf("CREATE DATABASE x_%s_%d TEMPLATE template1 STRATEGY %s", strat, i, strat)); err != nil {
					t.Fatal(err)
				}
			}
			t1 := time.Since(start) / 5
			start = time.Now()
			for i := 0; i < 5; i++ {
				if _, err := c.Exec(ctx, fmt.Sprintf("DROP DATABASE x_%s_%d", strat, i)); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%v %s create %v drop %v", settings, strat, t1, time.Since(start)/5)
		}
		c.Close(ctx)
		s.Stop(ctx)
	}
}

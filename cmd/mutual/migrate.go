package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/mutual-ledger/mutual/schema"
)

const migrateSummary = `Applies the schema's migrations the database has not had yet (mutual serve
does too when it starts) and prints what it applied.`

// migrate implements `mutual migrate`.
func migrate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dataDir := dataDirFlag(fs)
	if help, err := parseFlags(fs, e, migrateSummary, args); help || err != nil {
		return err
	}
	db, err := openDatabase(ctx, e, *dataDir)
	if err != nil {
		return err
	}
	err = migrateDatabase(ctx, e, db)
	return errors.Join(err, db.Close(context.WithoutCancel(ctx)))
}

func migrateDatabase(ctx context.Context, e *env, db *database) error {
	ms, err := schema.Migrations()
	if err != nil {
		return err
	}
	names := make(map[int64]string, len(ms))
	for _, m := range ms {
		names[m.Version] = m.Name
	}
	applied, err := schema.Migrate(ctx, db.pool)
	for _, v := range applied {
		fmt.Fprintf(e.stdout, "applied migration %s\n", names[v])
	}
	if err != nil {
		return err
	}
	version, err := schema.Version(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is up to date at version %d\n", version)
	} else {
		fmt.Fprintf(e.stdout, "schema is now at version %d\n", version)
	}
	return nil
}

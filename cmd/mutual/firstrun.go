package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mutual-ledger/mutual/exchange"
)

// adminTokenFile is where the first run keeps the admin token, in the data
// folder, readable by its owner only.
const adminTokenFile = "admin-token"

// firstRun makes sure the network organization and its admin exist. On the
// very first start of a database it creates them with a first API token and
// returns that token's secret (and where it was saved); afterwards it returns
// "". The secret is never logged: the caller shows it once on the terminal.
func firstRun(ctx context.Context, e *env, ex *exchange.Store, dataDir, networkName string) (secret, savedAt string, err error) {
	org, _, _, secret, created, err := ex.Bootstrap(ctx, networkName)
	if err != nil {
		return "", "", fmt.Errorf("creating the network and its admin: %w", err)
	}
	if !created {
		e.log.Info("network ready", "network", org.ID.String(), "name", org.Name)
		return "", "", nil
	}
	e.log.Info("first run: created the network and its admin", "network", org.ID.String(), "name", org.Name)
	dir, err := filepath.Abs(dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		savedAt = filepath.Join(dir, adminTokenFile)
		err = os.WriteFile(savedAt, []byte(secret+"\n"), 0o600)
	}
	if err != nil {
		// The token is still shown on the terminal; losing the copy is not
		// worth refusing to start.
		e.log.Warn("could not save the admin token in the data folder", "err", err)
		savedAt = ""
	}
	return secret, savedAt, nil
}

// printFirstRun shows the admin token once, with two requests to try.
func printFirstRun(e *env, url, secret, savedAt string) {
	fmt.Fprintf(e.stdout, "\nFirst run: created the network and its admin. The admin's API token, shown only this once:\n\n    %s\n\n", secret)
	if savedAt != "" {
		fmt.Fprintf(e.stdout, "A copy is in %s (readable by you only).\n", savedAt)
	}
	fmt.Fprintf(e.stdout, "Try:\n\n    curl -H 'Authorization: Bearer %s' %s/v1/orgs\n", secret, url)
	fmt.Fprintf(e.stdout, "    curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", secret)
	fmt.Fprintf(e.stdout, "         -d '{\"code\":\"HOUR\",\"scale\":2,\"name\":\"hour of time\"}' %s/v1/units\n\n", url)
}

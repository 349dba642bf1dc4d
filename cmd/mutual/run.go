package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// errUsage is matched (errors.Is) by every error about the command line
// itself: an unknown command, a bad flag, a stray argument. main exits 2 on
// it, 1 on any other error.
var errUsage = errors.New("usage error")

// usageError is an error in the command line; its text says what was wrong.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// env is what a command gets from the process: the environment, the output
// streams and the logger (JSON on stderr).
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

// command is one subcommand of mutual.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the server: HTTP on --addr, the ledger on the database", serve},
		{"migrate", "apply the database schema's migrations", migrate},
		{"verify", "check every invariant of the ledger", verify},
		{"demo", "load a small realistic network into a running server", demo},
		{"bench", "drive a running server's API with transfers and measure it", bench},
		{"version", "print mutual's version", printVersion},
		{"help", "print this help, or a command's (mutual help serve)", nil},
	}
}

// run runs mutual with the command line args (without the program name).
// It reads the environment only through getenv, writes its results to
// stdout and its logs to stderr, and returns when the command is done or,
// for serve, once ctx is cancelled and the server has shut down. Errors about
// the command line match errUsage.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := &env{
		getenv: getenv,
		stdout: stdout,
		stderr: stderr,
		log:    slog.New(slog.NewJSONHandler(stderr, nil)),
	}
	if len(args) == 0 {
		printUsage(stderr)
		return &usageError{"no command given"}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(rest) > 0 {
			// `mutual help serve` is `mutual serve -h`.
			if c, ok := lookup(rest[0]); ok && c.run != nil {
				return c.run(ctx, e, []string{"-h"})
			}
			return &usageError{fmt.Sprintf("no help on %q: it is not a command (run 'mutual help' for the commands)", rest[0])}
		}
		printUsage(stdout)
		return nil
	}
	c, ok := lookup(name)
	if !ok {
		return &usageError{fmt.Sprintf("unknown command %q (run 'mutual help' for the commands)", name)}
	}
	return c.run(ctx, e, rest)
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Mutual is an exchange ledger for the solidarity economy.

Usage:
  mutual <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
The database: with DATABASE_URL unset, mutual runs a private PostgreSQL in
DATA-DIR/postgres (--data-dir, default ./.mutual), starting it when the
command starts and stopping it when the command ends. With
DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE it uses that
PostgreSQL or CockroachDB database instead.

Run 'mutual <command> -h' for a command's flags.
`)
	io.WriteString(w, b.String())
}

// parseFlags parses a command's flags. With -h it prints the command's usage
// to stdout and reports help = true; on a bad flag or a stray argument it
// returns a usage error.
func parseFlags(fs *flag.FlagSet, e *env, summary string, args []string) (help bool, err error) {
	var discard strings.Builder
	fs.SetOutput(&discard) // flag's own messages are replaced by ours
	fs.Usage = func() {}
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: mutual %s [flags]\n\n%s\n", fs.Name(), summary)
		var flags strings.Builder
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		if flags.Len() > 0 {
			fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
		}
	}
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(e.stdout)
		return true, nil
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		return false, &usageError{fmt.Sprintf("%s: %v (run 'mutual %s -h' for its flags)", fs.Name(), err, fs.Name())}
	}
	return false, nil
}

// dataDirFlag defines the --data-dir flag shared by the commands that open
// the database.
func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data-dir", "./.mutual", "keep the local PostgreSQL in `DIR`/postgres (when DATABASE_URL is unset)")
}

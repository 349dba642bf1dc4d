package pgtx_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func newDB(t *testing.T, pool *pgxpool.Pool) *pgtx.DB {
	t.Helper()
	db, err := pgtx.New(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if db.CockroachDB() {
		t.Fatal("these tests are about PostgreSQL")
	}
	return db
}

// TestWriteSkewRolledBackAtCommitIsRetried is the classic write skew: two
// doctors are on call, and each transaction takes its doctor off call if the
// other is still on. At SERIALIZABLE, PostgreSQL lets both transactions read
// and write, and rolls the second back only when it tries to COMMIT. The
// helper must see that failure, run the whole transaction again (which now
// finds one doctor on call and changes nothing), and never acknowledge the
// rolled-back attempt.
func TestWriteSkewRolledBackAtCommitIsRetried(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.New(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE doctors (id BIGINT PRIMARY KEY, on_call BOOLEAN NOT NULL);
INSERT INTO doctors VALUES (1, true), (2, true)`); err != nil {
		t.Fatal(err)
	}
	db := newDB(t, pool)
	var retries []pgtx.Attempt
	var mu sync.Mutex
	db.OnRetry = func(a pgtx.Attempt) {
		mu.Lock()
		retries = append(retries, a)
		mu.Unlock()
	}
	goOffCall := func(id int, tx *pgtx.Tx) (bool, error) {
		var onCall int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE on_call`).Scan(&onCall); err != nil {
			return false, err
		}
		if onCall < 2 {
			return false, nil
		}
		_, err := tx.Exec(ctx, `UPDATE doctors SET on_call = false WHERE id = $1`, id)
		return true, err
	}

	firstWrote := make(chan struct{})
	secondWrote := make(chan struct{})
	firstDone := make(chan struct{})
	var secondAttempts atomic.Int32
	var secondWentOff bool
	errs := make(chan error, 2)
	go func() {
		err := db.Run(ctx, pgtx.Options{Isolation: pgx.Serializable}, func(tx *pgtx.Tx) error {
			if _, err := goOffCall(1, tx); err != nil {
				return err
			}
			close(firstWrote)
			<-secondWrote // both have read and written before either commits
			return nil
		})
		close(firstDone)
		errs <- err
	}()
	go func() {
		<-firstWrote
		err := db.Run(ctx, pgtx.Options{Isolation: pgx.Serializable}, func(tx *pgtx.Tx) error {
			n := secondAttempts.Add(1)
			off, err := goOffCall(2, tx)
			secondWentOff = off
			if err != nil {
				return err
			}
			if n == 1 {
				close(secondWrote)
				<-firstDone // commit only after the first has committed
			}
			return nil
		})
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	if secondAttempts.Load() != 2 || secondWentOff {
		t.Errorf("second transaction ran %d times (went off call on the last: %v); want a retry that changes nothing", secondAttempts.Load(), secondWentOff)
	}
	if len(retries) != 1 || !retries[0].AtCommit {
		t.Errorf("retries = %+v; want one, reported by COMMIT", retries)
	}
	var onCall int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE on_call`).Scan(&onCall); err != nil {
		t.Fatal(err)
	}
	if onCall != 1 {
		t.Errorf("%d doctors on call; exactly one must remain", onCall)
	}
}

// TestSwallowedErrorIsNotAcknowledged: a function that ignores a failed
// statement leaves PostgreSQL's transaction aborted, and COMMIT then answers
// ROLLBACK. Run must report that, not success.
func TestSwallowedErrorIsNotAcknowledged(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.New(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE notes (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db := newDB(t, pool)
	err := db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notes VALUES (1)`); err != nil {
			return err
		}
		_, _ = tx.Exec(ctx, `INSERT INTO notes VALUES (1)`) // duplicate key, ignored
		return nil
	})
	if !errors.Is(err, pgtx.ErrRolledBack) {
		t.Fatalf("err = %v, want ErrRolledBack", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 0 {
		t.Errorf("notes = %d (%v), want 0", n, err)
	}
}

func TestDomainErrorsAreNotRetried(t *testing.T) {
	ctx := context.Background()
	db := newDB(t, dbtest.New(t))
	mine := errors.New("insufficient hours")
	calls := 0
	err := db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		calls++
		return mine
	})
	if !errors.Is(err, mine) || calls != 1 {
		t.Errorf("err = %v after %d calls; want the function's error after one", err, calls)
	}
	// A unique violation is the caller's business unless it asks for a retry.
	calls = 0
	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		calls++
		if calls < 3 {
			return pgtx.Retry(errors.New("a concurrent writer won"))
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Retry: err = %v after %d calls; want success on the third", err, calls)
	}
}

// TestDeadlocksAreRetried makes two transactions lock two rows in opposite
// orders; PostgreSQL kills one with 40P01, and the helper runs it again.
func TestDeadlocksAreRetried(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.New(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE counters (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO counters VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	db := newDB(t, pool)
	var barrier sync.WaitGroup
	barrier.Add(2)
	bump := func(a, b int) error {
		var once sync.Once
		return db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, a); err != nil {
				return err
			}
			once.Do(func() { barrier.Done(); barrier.Wait() })
			_, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, b)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- bump(1, 2) }()
	go func() { errs <- bump(2, 1) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	if db.Retries() == 0 {
		t.Error("no attempt was retried; the deadlock did not happen")
	}
	var sum int
	if err := pool.QueryRow(ctx, `SELECT sum(n) FROM counters`).Scan(&sum); err != nil || sum != 4 {
		t.Errorf("sum = %d (%v), want 4: each transaction applied exactly once", sum, err)
	}
}

// TestConnectionLostDuringCommitIsAmbiguous cuts the connection right after
// COMMIT leaves the client. The server may well have committed (here it has),
// so the helper must not retry, which could apply the transaction twice, and
// must not claim success: it reports ErrAmbiguousCommit. (pgx reports this
// very failure as "conn closed", an error it marks safe to retry: trusting
// that at COMMIT would write the transaction twice.)
func TestConnectionLostDuringCommitIsAmbiguous(t *testing.T) {
	ctx := context.Background()
	url := dbtest.URL(t)
	direct, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if _, err := direct.Exec(ctx, `CREATE TABLE notes (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, url)
	pool := p.pool(t, url)
	db := newDB(t, pool)

	p.cutAfter.Store("commit\x00")
	calls := 0
	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		calls++
		_, err := tx.Exec(ctx, `INSERT INTO notes VALUES (1)`)
		return err
	})
	if !errors.Is(err, pgtx.ErrAmbiguousCommit) || calls != 1 {
		t.Fatalf("err = %v after %d calls; want ErrAmbiguousCommit after one", err, calls)
	}
	if errors.Is(err, pgtx.ErrUnavailable) {
		t.Errorf("an ambiguous commit also matches ErrUnavailable, which says nothing was committed: %v", err)
	}
	var n int
	if err := direct.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 1 {
		t.Errorf("notes = %d (%v): the server committed once", n, err)
	}

	// A connection lost before COMMIT was sent cannot have committed: the
	// whole transaction runs again on a new connection.
	p.cutAfter.Store("insert into notes values (2)")
	calls = 0
	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		calls++
		_, err := tx.Exec(ctx, `INSERT INTO notes VALUES (2)`)
		return err
	})
	if err != nil || calls != 2 {
		t.Fatalf("err = %v after %d calls; want success on a second attempt", err, calls)
	}
	if err := direct.QueryRow(ctx, `SELECT count(*) FROM notes WHERE id = 2`).Scan(&n); err != nil || n != 1 {
		t.Errorf("note 2 written %d times (%v), want once", n, err)
	}
}

// proxy forwards PostgreSQL connections and, when armed, forwards one simple
// query containing cutAfter and then drops the connection before the answer
// comes back. While refuse is set it closes new connections at once.
type proxy struct {
	ln       net.Listener
	target   string
	cutAfter atomic.Value // string; "" when disarmed
	refuse   atomic.Bool  // close every new connection at once, as a server that is down
}

func startProxy(t *testing.T, url string) *proxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))}
	p.cutAfter.Store("")
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	return dbtest.PoolVia(t, url, p.ln.Addr().(*net.TCPAddr), func(cfg *pgxpool.Config) {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	})
}

func (p *proxy) serve(client net.Conn) {
	defer client.Close()
	if p.refuse.Load() {
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var dropping atomic.Bool
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if dropping.Load() || err != nil {
				client.Close()
				return
			}
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	// The startup message has no type byte.
	var n uint32
	if err := binary.Read(client, binary.BigEndian, &n); err != nil {
		return
	}
	startup := make([]byte, n-4)
	if _, err := io.ReadFull(client, startup); err != nil {
		return
	}
	server.Write(binary.BigEndian.AppendUint32(nil, n))
	server.Write(startup)
	for {
		head := make([]byte, 5)
		if _, err := io.ReadFull(client, head); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		cut, _ := p.cutAfter.Load().(string)
		cutting := cut != "" && head[0] == 'Q' && bytes.Contains(bytes.ToLower(body), []byte(cut))
		if cutting {
			// No answer to this message reaches the client.
			p.cutAfter.Store("")
			dropping.Store(true)
		}
		if _, err := server.Write(append(head, body...)); err != nil {
			return
		}
		if cutting {
			time.Sleep(100 * time.Millisecond) // let the server act on it
			return
		}
	}
}

// TestDeferredWrites: writes deferred to travel with COMMIT commit with it;
// one that fails takes the whole transaction down; and a check that refuses
// writes which succeeded is told the truth: they committed.
func TestDeferredWrites(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.New(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE notes (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db := newDB(t, pool)
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(ids ...int64) *pgx.Batch {
		b := &pgx.Batch{}
		for _, id := range ids {
			b.Queue(`INSERT INTO notes VALUES ($1)`, id)
		}
		return b
	}
	readAll := func(n int) func(pgx.BatchResults) error {
		return func(br pgx.BatchResults) error {
			for range n {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			return nil
		}
	}

	err := db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notes VALUES (1)`); err != nil {
			return err
		}
		tx.Defer(insert(2, 3), readAll(2))
		return nil
	})
	if err != nil || count() != 3 {
		t.Fatalf("deferred writes: %v, %d notes; want 3", err, count())
	}

	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notes VALUES (4)`); err != nil {
			return err
		}
		tx.Defer(insert(5, 1), readAll(2)) // 1 exists: the second insert fails
		return nil
	})
	if err == nil || count() != 3 {
		t.Fatalf("a failing deferred write: %v, %d notes; want an error and nothing written", err, count())
	}

	bug := errors.New("expected 3 rows")
	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tx.Defer(insert(6), func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			return bug
		})
		return nil
	})
	if !errors.Is(err, pgtx.ErrCommittedAnyway) || !errors.Is(err, bug) || count() != 4 {
		t.Fatalf("a check refusing successful writes: %v, %d notes; want ErrCommittedAnyway and the write kept", err, count())
	}
}

// TestDeferredRows: rows given one at a time to DeferRow are written by one
// statement per power-of-two chunk, in the place of the first row among the
// deferred writes, and commit or fail with the transaction like Defer's.
func TestDeferredRows(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.New(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE notes (id BIGINT PRIMARY KEY, tag TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	db := newDB(t, pool)
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var sizes []int
	values := func(n int) string {
		sizes = append(sizes, n)
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "($%d::BIGINT, $%d::TEXT)", 2*i+1, 2*i+2)
		}
		return b.String()
	}
	notes := &pgtx.Rows{Width: 2, Statement: func(n int) string { return `INSERT INTO notes VALUES ` + values(n) }}
	one := func(sql string) *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue(sql)
		return b
	}
	exec1 := func(br pgx.BatchResults) error { _, err := br.Exec(); return err }

	err := db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		sizes = nil
		tx.Defer(one(`INSERT INTO notes VALUES (1, 'first')`), exec1)
		for i := range 37 {
			tx.DeferRow(notes, int64(100+i), "row")
		}
		// Queued after the first row: it sees all 37, since they were
		// placed where the first one was.
		tx.Defer(one(`INSERT INTO notes SELECT 1000 + count(*), 'last' FROM notes`), exec1)
		return nil
	})
	if err != nil || count() != 39 {
		t.Fatalf("deferred rows: %v, %d notes; want 39", err, count())
	}
	if !slices.Equal(sizes, []int{32, 4, 1}) {
		t.Errorf("37 rows were written by statements of %v rows, want [32 4 1]", sizes)
	}
	var last int64
	if err := pool.QueryRow(ctx, `SELECT id FROM notes WHERE tag = 'last'`).Scan(&last); err != nil || last != 1038 {
		t.Errorf("the write queued after the rows saw %d notes (%v), want 38", last-1000, err)
	}

	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tx.DeferRow(notes, int64(2), "new")
		tx.DeferRow(notes, int64(1), "taken") // 1 exists: the statement fails
		return nil
	})
	if err == nil || count() != 39 {
		t.Fatalf("a failing row: %v, %d notes; want an error and nothing written", err, count())
	}

	skipping := &pgtx.Rows{Width: 2, Statement: func(n int) string {
		return `INSERT INTO notes VALUES ` + values(n) + ` ON CONFLICT (id) DO NOTHING`
	}}
	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tx.DeferRow(skipping, int64(3), "new")
		tx.DeferRow(skipping, int64(1), "taken") // skipped: one row short
		return nil
	})
	if !errors.Is(err, pgtx.ErrCommittedAnyway) || count() != 40 {
		t.Fatalf("a statement writing fewer rows than given: %v, %d notes; want ErrCommittedAnyway and the write kept", err, count())
	}
}

package exchange_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// TestPasskeyCeremoniesWorkOnce: a ceremony's state is given back once;
// a replayed answer, one too late, one of another purpose and one of
// another member find nothing, and each try uses the ceremony up.
func TestPasskeyCeremoniesWorkOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clock := e.clock
	net := e.org(t, nil, exchange.KindNetwork, "Net")
	tb := e.org(t, &net, exchange.KindTimebank, "Bank")
	ana, ben := e.member(t, "Ana"), e.member(t, "Ben")
	e.join(t, tb, ana, exchange.RoleMember)
	e.join(t, tb, ben, exchange.RoleMember)
	pa, pb := e.principal(t, ana), e.principal(t, ben)

	if _, err := e.ex.StartPasskeyCeremony(ctx, exchange.Principal{}, exchange.CeremonyRegister, []byte("x")); err == nil {
		t.Error("a registration began with nobody signed in")
	}
	id, err := e.ex.StartPasskeyCeremony(ctx, pa, exchange.CeremonyRegister, []byte("state"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.ex.TakePasskeyCeremony(ctx, pa, id, exchange.CeremonyRegister)
	if err != nil || string(data) != "state" {
		t.Fatalf("taking the ceremony: %q, %v", data, err)
	}
	_, err = e.ex.TakePasskeyCeremony(ctx, pa, id, exchange.CeremonyRegister)
	wantErr(t, "a replayed answer", err, exchange.ErrPasskeyCeremony)

	for name, try := range map[string]func(uuid.UUID) error{
		"another member's registration": func(id uuid.UUID) error {
			_, err := e.ex.TakePasskeyCeremony(ctx, pb, id, exchange.CeremonyRegister)
			return err
		},
		"a registration answered as a sign-in": func(id uuid.UUID) error {
			_, err := e.ex.TakePasskeyCeremony(ctx, exchange.Principal{}, id, exchange.CeremonySignin)
			return err
		},
		"an answer past its time": func(id uuid.UUID) error {
			clock.Advance(exchange.PasskeyCeremonyTTL)
			_, err := e.ex.TakePasskeyCeremony(ctx, pa, id, exchange.CeremonyRegister)
			return err
		},
	} {
		id, err := e.ex.StartPasskeyCeremony(ctx, pa, exchange.CeremonyRegister, []byte("state"))
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, name, try(id), exchange.ErrPasskeyCeremony)
		_, err = e.ex.TakePasskeyCeremony(ctx, pa, id, exchange.CeremonyRegister)
		wantErr(t, name+", then the right answer", err, exchange.ErrPasskeyCeremony)
	}
	if n := e.count(t, "passkey_ceremonies"); n != 0 {
		t.Errorf("%d ceremonies left", n)
	}

	// Two answers at once: one gets the state.
	id, err = e.ex.StartPasskeyCeremony(ctx, exchange.Principal{}, exchange.CeremonySignin, []byte("state"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.ex.TakePasskeyCeremony(ctx, exchange.Principal{}, id, exchange.CeremonySignin); err == nil {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got != 1 {
		t.Errorf("%d of 8 concurrent answers took the ceremony, want 1", got)
	}
}

// TestPasskeyRules: a member registers passkeys for themselves only; the
// member, their coordinator and the admin list and remove them, a fellow
// member neither; a passkey signs in only while registered and while its
// counter moves forward, and opens a session by passkey.
func TestPasskeyRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Net")
	tb := e.org(t, &net, exchange.KindTimebank, "Bank")
	ana, ben, tess := e.member(t, "Ana"), e.member(t, "Ben"), e.member(t, "Tess")
	e.join(t, tb, ana, exchange.RoleMember)
	e.join(t, tb, ben, exchange.RoleMember)
	e.join(t, tb, tess, exchange.RoleCoordinator)
	pa, pb, pt := e.principal(t, ana), e.principal(t, ben), e.principal(t, tess)

	cred := bytes.Repeat([]byte{7}, 32)
	k, err := e.ex.AddPasskey(ctx, pa, exchange.NewPasskey{CredentialID: cred, Record: []byte(`{"publicKey":"..."}`), SignCount: 1})
	if err != nil || k.MemberID != ana.ID {
		t.Fatalf("adding a passkey: %+v, %v", k, err)
	}
	wantActor(t, e.pool, "passkey.added", k.ID, pa)
	// Nobody registers a passkey for someone else, not even acting for them.
	forAna, err := e.ex.ActFor(ctx, pt, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ex.AddPasskey(ctx, forAna, exchange.NewPasskey{CredentialID: bytes.Repeat([]byte{8}, 32), Record: []byte(`{}`)})
	wantErr(t, "a coordinator registering a passkey for Ana", err, exchange.ErrForbidden)
	_, err = e.ex.AddPasskey(ctx, pb, exchange.NewPasskey{CredentialID: cred, Record: []byte(`{}`)})
	wantErr(t, "the same credential again", err, exchange.ErrPasskeyRegistered)
	_, err = e.ex.AddPasskey(ctx, pa, exchange.NewPasskey{CredentialID: []byte("short"), Record: []byte(`{}`)})
	if err == nil {
		t.Error("a 5-byte credential id was taken")
	}

	for name, p := range map[string]exchange.Principal{"herself": pa, "her coordinator": pt} {
		ks, err := e.ex.Passkeys(ctx, p, ana.ID)
		if err != nil || len(ks) != 1 || !bytes.Equal(ks[0].CredentialID, cred) {
			t.Errorf("%s lists %v, %v", name, ks, err)
		}
	}
	_, err = e.ex.Passkeys(ctx, pb, ana.ID)
	if err == nil {
		t.Error("a fellow member listed Ana's passkeys")
	}
	_, err = e.ex.RemovePasskey(ctx, pb, k.ID)
	wantErr(t, "a fellow member removing Ana's passkey", err, exchange.ErrUnknownPasskey)

	// Sign in: the counter must move forward.
	ss, secret, err := e.ex.SignInWithPasskey(ctx, cred, 2, nil)
	if err != nil || ss.MemberID != ana.ID || ss.Method != exchange.SessionByPasskey {
		t.Fatalf("signing in: %+v, %v", ss, err)
	}
	p, err := e.ex.AuthenticateSession(ctx, secret)
	if err != nil || p.MemberID != ana.ID || p.Credential != exchange.CredentialSession {
		t.Errorf("the passkey's session authenticates as %+v, %v", p, err)
	}
	// The sign-in is recorded with the passkey as its credential.
	wantActor(t, e.pool, "session.signed_in", ss.ID, exchange.Principal{MemberID: ana.ID, Credential: exchange.CredentialPasskey, CredentialID: k.ID})
	_, _, err = e.ex.SignInWithPasskey(ctx, cred, 2, nil)
	wantErr(t, "a counter that did not move (a cloned key)", err, exchange.ErrSigninFailed)
	if ks, _ := e.ex.Passkeys(ctx, pa, ana.ID); len(ks) != 1 || ks[0].LastUsedAt == nil || ks[0].SignCount != 2 {
		t.Errorf("after use: %+v", ks)
	}

	if _, err := e.ex.RemovePasskey(ctx, pt, k.ID); err != nil {
		t.Fatalf("her coordinator removing it: %v", err)
	}
	wantActor(t, e.pool, "passkey.removed", k.ID, pt)
	_, _, err = e.ex.SignInWithPasskey(ctx, cred, 3, nil)
	wantErr(t, "a removed passkey", err, exchange.ErrSigninFailed)
	_, err = e.ex.PasskeyByCredential(ctx, cred)
	wantErr(t, "looking up a removed passkey", err, exchange.ErrSigninFailed)
}

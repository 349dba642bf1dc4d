package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// Passkeys. The WebAuthn protocol runs here (github.com/go-webauthn):
// the options a browser is sent, and the check of its signed answer
// against the public key the exchange keeps. The exchange stores the
// ceremony between its start and its answer (once, for a few minutes),
// keeps the credentials, and decides who may add, list and remove them
// and when a passkey opens a session.
//
// In the browser, assets/passkey.js asks the authenticator
// (navigator.credentials) and posts its answer with an ordinary form, so
// the outcome is a page like every other (POST, then a redirect). Without
// JavaScript the passkey buttons stay hidden and a one-time code signs in.

// passkeyService is what passkeys need of the exchange.
type passkeyService interface {
	StartPasskeyCeremony(ctx context.Context, p exchange.Principal, purpose string, data []byte) (uuid.UUID, error)
	TakePasskeyCeremony(ctx context.Context, p exchange.Principal, id uuid.UUID, purpose string) ([]byte, error)
	AddPasskey(ctx context.Context, p exchange.Principal, in exchange.NewPasskey) (exchange.Passkey, error)
	PasskeyByCredential(ctx context.Context, credentialID []byte) (exchange.Passkey, error)
	SignInWithPasskey(ctx context.Context, credentialID []byte, signCount uint32, record []byte) (exchange.Session, string, error)
	Passkeys(ctx context.Context, p exchange.Principal, memberID uuid.UUID) ([]exchange.Passkey, error)
	RemovePasskey(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Passkey, error)
}

// newWebAuthn makes the relying party of a public URL: its host is the
// RP ID (a browser accepts a name or "localhost", never an IP address),
// its origin the only one answers may come from.
func newWebAuthn(publicURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("web: the public URL %q is not an http(s) URL", publicURL)
	}
	return webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: "Mutual", RPOrigins: []string{u.Scheme + "://" + u.Host},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: exchange.PasskeyCeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: exchange.PasskeyCeremonyTTL},
		},
	})
}

func (s *Server) registerPasskeyPages() {
	s.member("GET /passkeys", s.passkeysPage)
	s.member("POST /passkeys/register/begin", s.passkeyRegisterBegin)
	s.member("POST /passkeys/register", s.passkeyRegister)
	s.member("POST /passkeys/{id}/remove", s.passkeyRemove)
	s.public("POST /signin/passkey/begin", s.passkeySigninBegin)
	s.public("POST /signin/passkey", s.passkeySignin)
}

// passkeyUser is a member as WebAuthn sees them: the user handle is the
// member's id (not a secret: it names, it does not let in).
type passkeyUser struct {
	id    uuid.UUID
	name  string
	creds []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return u.id[:] }
func (u passkeyUser) WebAuthnName() string                       { return u.name }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credentials decodes the stored records of passkeys.
func credentials(ks []exchange.Passkey) ([]webauthn.Credential, error) {
	out := make([]webauthn.Credential, 0, len(ks))
	for _, k := range ks {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Record, &c); err != nil {
			return nil, fmt.Errorf("web: passkey %s's record: %w", k.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// passkeyRow is a passkey as the list shows it.
type passkeyRow struct {
	ID              uuid.UUID
	Added, LastUsed string
}

type passkeysData struct {
	Available bool
	Passkeys  []passkeyRow
}

// passkeysPage lists my passkeys, each with a button to remove it, and
// offers to add one (with script).
func (s *Server) passkeysPage(w http.ResponseWriter, r *Request) error {
	return s.renderPasskeys(w, r, http.StatusOK, nil)
}

func (s *Server) renderPasskeys(w http.ResponseWriter, r *Request, status int, f *Form) error {
	ks, err := s.ex.Passkeys(r.Context(), *r.Principal, r.Principal.MemberID)
	if err != nil {
		return err
	}
	d := passkeysData{Available: s.wa != nil}
	for _, k := range ks {
		row := passkeyRow{ID: k.ID, Added: r.Lang.Date(k.CreatedAt)}
		if k.LastUsedAt != nil {
			row.LastUsed = r.Lang.Date(*k.LastUsedAt)
		}
		d.Passkeys = append(d.Passkeys, row)
	}
	return s.render(w, r, status, "passkeys", "passkeys.title", f, d)
}

// ceremonyJSON is the start of a ceremony, for passkey.js: the id its
// answer names, and the options for navigator.credentials.
type ceremonyJSON struct {
	Ceremony uuid.UUID `json:"ceremony"`
	Options  any       `json:"options"`
}

func writeCeremony(w http.ResponseWriter, id uuid.UUID, options any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(ceremonyJSON{Ceremony: id, Options: options})
}

// passkeyRegisterBegin starts adding a passkey: the options ask for a
// discoverable credential that verifies the person, and exclude the
// passkeys the member has already.
func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *Request) error {
	if s.wa == nil {
		return errNotFound
	}
	ks, err := s.ex.Passkeys(r.Context(), *r.Principal, r.Principal.MemberID)
	if err != nil {
		return err
	}
	creds, err := credentials(ks)
	if err != nil {
		return err
	}
	user := passkeyUser{id: r.Principal.MemberID, name: r.Name, creds: creds}
	creation, sd, err := s.wa.BeginRegistration(user, webauthn.WithExclusions(webauthn.Credentials(creds).CredentialDescriptors()))
	if err != nil {
		return err
	}
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	id, err := s.ex.StartPasskeyCeremony(r.Context(), *r.Principal, exchange.CeremonyRegister, data)
	if err != nil {
		return err
	}
	return writeCeremony(w, id, creation)
}

// passkeyRegister finishes adding a passkey with the authenticator's
// answer, posted by passkey.js as a form.
func (s *Server) passkeyRegister(w http.ResponseWriter, r *Request) error {
	if s.wa == nil {
		return errNotFound
	}
	f := NewForm(r.Request)
	err := s.addPasskey(r, f)
	if err == nil {
		return s.redirect(w, r, "/passkeys", "flash.passkey_added")
	}
	if !r.refuse(f, err) {
		if !errors.Is(err, errPasskeyAnswer) {
			return err
		}
		f.Refuse("", r.Lang.T("passkeys.failed"))
	}
	return s.renderPasskeys(w, r, http.StatusUnprocessableEntity, f)
}

// errPasskeyAnswer: the browser's answer did not hold, or was no answer.
var errPasskeyAnswer = errors.New("web: the passkey answer does not hold")

func (s *Server) addPasskey(r *Request, f *Form) error {
	id, err := uuid.Parse(f.Get("ceremony"))
	if err != nil {
		return errPasskeyAnswer
	}
	data, err := s.ex.TakePasskeyCeremony(r.Context(), *r.Principal, id, exchange.CeremonyRegister)
	if err != nil {
		return err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(data, &sd); err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(f.Values.Get("credential")))
	if err != nil {
		return errPasskeyAnswer
	}
	cred, err := s.wa.CreateCredential(passkeyUser{id: r.Principal.MemberID, name: r.Name}, sd, parsed)
	if err != nil {
		s.log.Info("a passkey registration did not verify", "member", r.Principal.MemberID, "err", err)
		return errPasskeyAnswer
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	_, err = s.ex.AddPasskey(r.Context(), *r.Principal, exchange.NewPasskey{CredentialID: cred.ID, Record: record, SignCount: cred.Authenticator.SignCount})
	return err
}

// passkeyRemove removes one of my passkeys.
func (s *Server) passkeyRemove(w http.ResponseWriter, r *Request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	if _, err := s.ex.RemovePasskey(r.Context(), *r.Principal, id); err != nil {
		return err
	}
	return s.redirect(w, r, "/passkeys", "flash.passkey_removed")
}

// passkeySigninBegin starts a sign-in with a passkey: the browser offers
// the person the passkeys they hold for this site (discoverable
// credentials: nothing to type).
func (s *Server) passkeySigninBegin(w http.ResponseWriter, r *Request) error {
	if s.wa == nil {
		return errNotFound
	}
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	id, err := s.ex.StartPasskeyCeremony(r.Context(), exchange.Principal{}, exchange.CeremonySignin, data)
	if err != nil {
		return err
	}
	return writeCeremony(w, id, assertion)
}

// passkeySignin signs in with the authenticator's answer: the ceremony is
// taken (once), the signature checked against the passkey's public key,
// and the exchange opens a session.
func (s *Server) passkeySignin(w http.ResponseWriter, r *Request) error {
	if s.wa == nil {
		return errNotFound
	}
	f := NewForm(r.Request)
	next := localPath(f.Get("next"), "/home")
	ss, secret, err := s.signInWithPasskey(r, f)
	if err == nil {
		s.jar.Set(w, r.Request, secret, ss.ExpiresAt)
		return s.redirect(w, r, next, "flash.signed_in")
	}
	if errors.Is(err, errPasskeyAnswer) || errors.Is(err, exchange.ErrSigninFailed) || errors.Is(err, exchange.ErrPasskeyCeremony) {
		f.Refuse("", r.Lang.T("passkeys.signin_failed"))
	} else if !r.refuse(f, err) {
		return err
	}
	f.Values.Del("credential")
	return s.render(w, r, http.StatusUnprocessableEntity, "signin", "signin.title", f, s.signinData(r, "", next))
}

func (s *Server) signInWithPasskey(r *Request, f *Form) (exchange.Session, string, error) {
	id, err := uuid.Parse(f.Get("ceremony"))
	if err != nil {
		return exchange.Session{}, "", errPasskeyAnswer
	}
	data, err := s.ex.TakePasskeyCeremony(r.Context(), exchange.Principal{}, id, exchange.CeremonySignin)
	if err != nil {
		return exchange.Session{}, "", err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(data, &sd); err != nil {
		return exchange.Session{}, "", err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(f.Values.Get("credential")))
	if err != nil {
		return exchange.Session{}, "", errPasskeyAnswer
	}
	// The passkey the answer names, and its member, whom the user handle
	// must name too.
	var lookupErr error
	find := func(rawID, userHandle []byte) (webauthn.User, error) {
		k, err := s.ex.PasskeyByCredential(r.Context(), rawID)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		if !bytes.Equal(userHandle, k.MemberID[:]) {
			return nil, errPasskeyAnswer
		}
		creds, err := credentials([]exchange.Passkey{k})
		if err != nil {
			lookupErr = err
			return nil, err
		}
		return passkeyUser{id: k.MemberID, creds: creds}, nil
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(find, sd, parsed)
	if err != nil {
		if lookupErr != nil && !errors.Is(lookupErr, exchange.ErrSigninFailed) {
			return exchange.Session{}, "", lookupErr
		}
		return exchange.Session{}, "", errPasskeyAnswer
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return exchange.Session{}, "", err
	}
	return s.ex.SignInWithPasskey(r.Context(), cred.ID, cred.Authenticator.SignCount, record)
}

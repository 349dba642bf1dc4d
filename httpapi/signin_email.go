package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
)

// Mailer sends one plain-text message; *mailer.SMTP implements it. The
// message holds a sign-in code: a Mailer must never log it.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// emailSigninStore is what sign-in codes by email need; *exchange.Store
// implements it.
type emailSigninStore interface {
	RequestEmailSigninCode(ctx context.Context, email, address string) ([]exchange.EmailSigninCode, error)
}

func (a *api) emailSignins() emailSigninStore { return a.auth.(emailSigninStore) }

func (a *api) registerEmailSigninRoutes(rt *router) {
	rt.public(http.MethodPost, "/v1/signin/email", a.requestEmailSignin)
}

type signinEmailRequest struct {
	Email string `json:"email" validate:"required,max=254,line"`
}

// emailSigninAcceptedJSON answers every accepted request alike.
type emailSigninAcceptedJSON struct {
	Detail string `json:"detail"`
}

var errEmailNotConfigured = &apiError{kind: kindNotFound,
	detail: "this server sends no email: ask a coordinator of your organization for a sign-in code"}

// requestEmailSignin mails a one-time sign-in code to the address given,
// when it is a member's (one per member who has it), and answers 202 the
// same whether or not it is anyone's, so that nobody learns from it who is
// a member. The mail is sent after the answer, so that its time does not
// tell either. Too many requests for the address or from the client within
// 10 minutes are 429 too-many-attempts with Retry-After; without SMTP
// configured, 404. The code works as one a coordinator issues
// (POST /v1/signin/code), and never reaches a log.
func (a *api) requestEmailSignin(w http.ResponseWriter, r *http.Request) error {
	if a.mailer == nil {
		return errEmailNotConfigured
	}
	if err := a.checkOrigin(r); err != nil {
		return err
	}
	var req signinEmailRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	codes, err := a.emailSignins().RequestEmailSigninCode(r.Context(), req.Email, a.clientAddress(r))
	if err != nil {
		return err
	}
	ctx := context.WithoutCancel(r.Context())
	for _, c := range codes {
		go a.mailCode(ctx, c)
	}
	return writeJSON(w, http.StatusAccepted, emailSigninAcceptedJSON{
		Detail: "If this address belongs to a member, a sign-in code is on its way to it; it works once, within 15 minutes."})
}

// mailCode sends one code; a failure is logged without the code or the
// address.
func (a *api) mailCode(ctx context.Context, c exchange.EmailSigninCode) {
	body := fmt.Sprintf(`Hello %s,

Your sign-in code for Mutual is:

    %s

with your member id:

    %s

It works once, until %s (UTC). If you did not ask for it, you can ignore
this message: nobody can sign in without the code.
`, c.Name, c.Code, c.MemberID, c.ExpiresAt.UTC().Format(time.DateTime))
	if err := a.mailer.Send(ctx, c.Email, "Your Mutual sign-in code", body); err != nil {
		a.log.Error("sending a sign-in code by email", "member", c.MemberID, "err", err)
	}
}

// Package web serves the pages people use: server-rendered HTML
// (html/template), one small stylesheet and script embedded in the binary,
// forms that work without JavaScript (POST, then a redirect to a page
// that shows the outcome), in English, Spanish and French.
//
// The pages hold no rules of their own: every handler asks the exchange,
// which decides who may do what exactly as it does for the JSON API
// (package httpapi), and translates its answers and refusals for a person.
// A browser session cookie (internal/cookie, shared with the API) says who
// is signed in; a form posted from another site is refused before any
// handler runs (http.CrossOriginProtection).
//
// Adding a page: a template in templates/ (defining "content", with every
// visible text a message of locales/), a handler in the file of its
// resource registered in that file's register function, and its messages
// in all three catalogues; TestCatalogues and TestTemplatesHoldNoText
// hold the catalogues and templates to it.
package web

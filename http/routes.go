package http

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Role is what a bearer token may do. Tokens map to roles in Server.Tokens;
// each route lists the roles it admits.
type Role string

// The roles of API.md's auth table.
const (
	RoleAdmin     Role = "admin"
	RoleSupport   Role = "support"
	RoleScheduler Role = "scheduler"
	RoleAuditor   Role = "auditor"
)

// Roles lists every role, in the order API.md's table gives them.
var Roles = []Role{RoleAdmin, RoleSupport, RoleScheduler, RoleAuditor}

// route is one entry of the API's routing table. Every endpoint is a row
// here: what it answers, who may call it, and what the OpenAPI document says
// about it (the document is checked against this table by a test).
type route struct {
	method string
	// path is a gorilla/mux template: /v1/customers/{id}.
	path string
	// public routes need no token; a token given to them is ignored.
	public bool
	// roles may call the route when it is not public.
	roles []Role
	// queryRoles narrows roles when a query parameter is present: with
	// ?as_of=, the customer detail is for admins and auditors only.
	queryRoles map[string][]Role
	// testClock routes exist only when Server.TestClock is set; otherwise
	// they answer 404 like any unknown path.
	testClock bool
	// operations routes are served even by a Server with OperationsOnly
	// (a projector or worker process): health, readiness, metrics.
	operations bool
	handler    http.HandlerFunc
	// summary is the route's OpenAPI summary.
	summary string
}

var (
	adminOnly       = []Role{RoleAdmin}
	staff           = []Role{RoleAdmin, RoleSupport}
	staffAndAuditor = []Role{RoleAdmin, RoleSupport, RoleAuditor}
	adminAuditor    = []Role{RoleAdmin, RoleAuditor}
	adminScheduler  = []Role{RoleAdmin, RoleScheduler}
)

// routes is the API's routing table. Handlers of later issues answer 501.
func (s *Server) routes() []route {
	get, post, patch, put, del := http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete
	return []route{
		{method: get, path: "/healthz", public: true, operations: true, handler: s.handleHealthz, summary: "Liveness: the process serves HTTP"},
		{method: get, path: "/readyz", public: true, operations: true, handler: s.handleReadyz, summary: "Readiness: database and event store reachable, migrations applied"},
		{method: get, path: "/metrics", roles: adminAuditor, operations: true, handler: s.handleMetrics, summary: "Prometheus metrics"},
		{method: get, path: "/openapi.json", roles: staffAndAuditor, handler: s.handleOpenAPI, summary: "This OpenAPI document"},

		{method: get, path: "/v1/customers", roles: staffAndAuditor, handler: s.handleListCustomers, summary: "Customers overview, searchable by name, email and order number"},
		{method: post, path: "/v1/customers", roles: staff, handler: s.handleCreateCustomer, summary: "Create a customer"},
		{method: get, path: "/v1/customers/{id}", roles: staffAndAuditor, queryRoles: map[string][]Role{"as_of": adminAuditor}, handler: s.handleGetCustomer, summary: "Customer detail page"},
		{method: patch, path: "/v1/customers/{id}", roles: staff, handler: s.handleUpdateCustomer, summary: "Edit a customer's details"},
		{method: get, path: "/v1/customers/{id}/emails", roles: staffAndAuditor, handler: s.handleListCustomerEmails, summary: "A customer's full email history"},
		{method: get, path: "/v1/customers/{id}/history", roles: adminAuditor, handler: s.handleCustomerHistory, summary: "Every event of a customer's streams, in global order"},
		{method: post, path: "/v1/customers/{id}/return-label", roles: staff, handler: s.handleSendReturnLabel, summary: "Send a return label"},
		{method: del, path: "/v1/customers/{id}/personal-data", roles: adminOnly, handler: s.handleErasePersonalData, summary: "Erase a customer's personal data (crypto-shredding)"},

		{method: post, path: "/v1/subscriptions", roles: staff, handler: s.handleCreateSubscription, summary: "Create a subscription"},
		{method: get, path: "/v1/subscriptions/{id}", roles: staffAndAuditor, handler: s.handleGetSubscription, summary: "Subscription page"},
		{method: post, path: "/v1/subscriptions/{id}/cancel", roles: staff, handler: s.handleCancelSubscription, summary: "Cancel a subscription"},
		{method: post, path: "/v1/subscriptions/{id}/pause", roles: staff, handler: s.handlePauseSubscription, summary: "Pause a subscription"},
		{method: post, path: "/v1/subscriptions/{id}/resume", roles: staff, handler: s.handleResumeSubscription, summary: "Resume a paused subscription"},
		{method: post, path: "/v1/subscriptions/{id}/products", roles: staff, handler: s.handleAddProduct, summary: "Add an active product"},
		{method: patch, path: "/v1/subscriptions/{id}/products/{product_id}", roles: staff, handler: s.handleUpdateProduct, summary: "Change an active product's interval or next shipment"},
		{method: del, path: "/v1/subscriptions/{id}/products/{product_id}", roles: staff, handler: s.handleRemoveProduct, summary: "Remove an active product"},
		{method: post, path: "/v1/subscriptions/{id}/products/{product_id}/ship-now", roles: staff, handler: s.handleShipNow, summary: "Ship an active product now"},
		{method: post, path: "/v1/subscriptions/{id}/products/{product_id}/skip", roles: staff, handler: s.handleSkipShipment, summary: "Skip an active product's next shipment"},

		{method: post, path: "/v1/orders", roles: staff, handler: s.handleCreateOrder, summary: "Create a one-off order"},
		{method: get, path: "/v1/orders/{id}", roles: staffAndAuditor, handler: s.handleGetOrder, summary: "Order page"},
		{method: post, path: "/v1/orders/{id}/tracking", roles: staff, handler: s.handleAddTracking, summary: "Add tracking: the order is sent"},
		{method: post, path: "/v1/orders/{id}/pickup", roles: staff, handler: s.handleConfirmPickup, summary: "Confirm a pickup"},

		{method: get, path: "/v1/invoices/{id}", roles: staffAndAuditor, handler: s.handleGetInvoice, summary: "Invoice"},
		{method: get, path: "/v1/invoices/{id}/pdf", roles: staffAndAuditor, handler: s.handleGetInvoicePDF, summary: "Invoice as PDF"},
		{method: post, path: "/v1/invoices/{id}/retry", roles: staff, handler: s.handleRetryInvoice, summary: "Retry an invoice's charge now"},
		{method: post, path: "/v1/invoices/{id}/refund", roles: staff, handler: s.handleRefundInvoice, summary: "Refund an invoice through Stripe"},

		{method: get, path: "/v1/settings/email", roles: adminAuditor, handler: s.handleGetEmailSettings, summary: "Email settings"},
		{method: put, path: "/v1/settings/email", roles: adminOnly, handler: s.handlePutEmailSettings, summary: "Replace the email settings"},
		{method: get, path: "/v1/settings/dunning", roles: adminAuditor, handler: s.handleGetDunningSettings, summary: "Dunning settings: retry days after a failed charge and the final action"},
		{method: put, path: "/v1/settings/dunning", roles: adminOnly, handler: s.handlePutDunningSettings, summary: "Replace the dunning settings"},

		{method: post, path: "/v1/webhooks/stripe", public: true, handler: s.handleStripeWebhook, summary: "Stripe webhook events, verified by Stripe-Signature"},
		{method: post, path: "/v1/scheduler/shipments", roles: adminScheduler, handler: s.handleScheduleShipments, summary: "Enqueue due shipments"},

		{method: get, path: "/v1/events", roles: adminAuditor, handler: s.handleListEvents, summary: "The event log in global order"},
		{method: get, path: "/v1/streams/{stream}", roles: adminAuditor, handler: s.handleGetStream, summary: "One stream's events, with their hash chain"},
		{method: get, path: "/v1/projections", roles: adminAuditor, handler: s.handleListProjections, summary: "Projections with position, lag and status"},
		{method: post, path: "/v1/projections/{name}/rebuild", roles: adminOnly, handler: s.handleRebuildProjection, summary: "Rebuild a projection into fresh tables and swap it in"},

		{method: get, path: "/v1/test-clock", roles: adminAuditor, testClock: true, handler: s.handleGetTestClock, summary: "The test clock's now (only with TEST_CLOCK=1)"},
		{method: post, path: "/v1/test-clock/advance", roles: adminOnly, testClock: true, handler: s.handleAdvanceTestClock, summary: "Advance the test clock (only with TEST_CLOCK=1)"},
	}
}

// routeTemplate returns the template of the route r matched, such as
// /v1/customers/{id}, or "unmatched". Metrics and messages use it so that
// ids never become label values.
func routeTemplate(r *http.Request) string {
	if rt := info(r.Context()).route; rt != nil {
		return rt.path
	}
	if cr := mux.CurrentRoute(r); cr != nil {
		if t, err := cr.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unmatched"
}

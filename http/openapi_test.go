package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI    string                                 `json:"openapi"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]openAPISchema `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	Summary     string            `json:"summary"`
	Security    *[]map[string]any `json:"security"`
	Parameters  []map[string]any  `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema map[string]any `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]any `json:"responses"`
}

type openAPISchema struct {
	Properties map[string]any `json:"properties"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(openAPI, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	return doc
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// normalise replaces every path parameter with {id}, so the comparison does
// not depend on parameter names.
func normalise(method, path string) string {
	return strings.ToUpper(method) + " " + pathParam.ReplaceAllString(path, "{id}")
}

// TestOpenAPIMatchesRoutes fails when a route exists that the document
// lacks, or the document lists an operation that is not a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	var inTable, inDoc []string
	for _, rt := range matrixServer().routes() {
		inTable = append(inTable, normalise(rt.method, rt.path))
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			inDoc = append(inDoc, normalise(method, path))
		}
	}
	slices.Sort(inTable)
	slices.Sort(inDoc)
	require.Equal(t, inTable, inDoc, "routes table (expected) vs openapi.json (actual)")
}

// TestOpenAPIOperations checks each operation against its route: summary,
// security (public routes need none), path parameters, and the error
// responses the middleware gives.
func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for _, rt := range matrixServer().routes() {
		name := rt.method + " " + rt.path
		op, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]
		require.True(t, ok, "%s: the document names its parameters like the table", name)
		require.Equal(t, rt.summary, op.Summary, name)
		if rt.public {
			require.NotNil(t, op.Security, name)
			require.Empty(t, *op.Security, "%s: public", name)
		} else {
			require.Nil(t, op.Security, "%s: the document's default bearer security", name)
			for _, code := range []string{"401", "403", "429"} {
				require.Contains(t, op.Responses, code, name)
			}
		}
		var params []string
		for _, p := range op.Parameters {
			if p["in"] == "path" {
				params = append(params, "{"+p["name"].(string)+"}")
			}
		}
		require.Equal(t, pathParam.FindAllString(rt.path, -1), params, "%s: path parameters", name)
		if isWrite(rt.method) && !rt.public {
			require.Contains(t, op.Parameters, map[string]any{"$ref": "#/components/parameters/IdempotencyKey"}, name)
		}
	}
}

// requestBodies maps the command routes to their handlers' request types:
// the document's schema must list exactly the type's JSON fields.
var requestBodies = map[string]any{
	"POST /v1/customers":                                         createCustomerRequest{},
	"PATCH /v1/customers/{id}":                                   updateCustomerRequest{},
	"POST /v1/subscriptions":                                     createSubscriptionRequest{},
	"POST /v1/subscriptions/{id}/cancel":                         cancelRequest{},
	"POST /v1/subscriptions/{id}/products":                       productRequest{},
	"PATCH /v1/subscriptions/{id}/products/{product_id}":         updateProductRequest{},
	"POST /v1/orders":                                            createOrderRequest{},
	"POST /v1/orders/{id}/tracking":                              trackingRequest{},
	"PUT /v1/settings/email":                                     emailSettingsRequest{},
	"PUT /v1/settings/dunning":                                   dunningSettingsRequest{},
	"POST /v1/customers/{id}/return-label":                       struct{}{},
	"POST /v1/subscriptions/{id}/pause":                          struct{}{},
	"POST /v1/subscriptions/{id}/resume":                         struct{}{},
	"POST /v1/subscriptions/{id}/products/{product_id}/ship-now": struct{}{},
	"POST /v1/subscriptions/{id}/products/{product_id}/skip":     struct{}{},
	"POST /v1/orders/{id}/pickup":                                struct{}{},
	"POST /v1/projections/{name}/rebuild":                        struct{}{},
	"POST /v1/invoices/{id}/retry":                               struct{}{},
	"POST /v1/invoices/{id}/refund":                              refundRequest{},
	"POST /v1/scheduler/shipments":                               scheduleShipmentsRequest{},
	"POST /v1/test-clock/advance":                                advanceTestClockRequest{},
}

func TestOpenAPIRequestBodies(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for route, body := range requestBodies {
		method, path, _ := strings.Cut(route, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		require.True(t, ok, route)
		require.NotNil(t, op.RequestBody, route)
		ref, _ := op.RequestBody.Content["application/json"].Schema["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/components/schemas/")
		require.True(t, ok, route)
		schema, ok := doc.Components.Schemas[name]
		require.True(t, ok, "%s: schema %s", route, name)

		var inDoc []string
		for p := range schema.Properties {
			inDoc = append(inDoc, p)
		}
		var inGo []string
		for f := range jsonFields(reflect.TypeOf(body)) {
			inGo = append(inGo, f)
		}
		require.ElementsMatch(t, inGo, inDoc, "%s: Go type (expected) vs schema %s (actual)", route, name)
	}
}

// TestOpenAPIRefsResolve checks that every $ref names a component.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(openAPI, &doc))
	components := doc["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				require.Len(t, parts, 2, ref)
				kind, ok := components[parts[0]].(map[string]any)
				require.True(t, ok, ref)
				require.Contains(t, kind, parts[1], ref)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

func TestServeOpenAPI(t *testing.T) {
	t.Parallel()
	h := matrixServer().Handler()
	req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf(RoleSupport))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.JSONEq(t, string(openAPI), rec.Body.String())
}

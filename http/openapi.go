package http

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 document of the routes table; TestOpenAPI
// checks that the two agree.
//
//go:embed openapi.json
var openAPI []byte

// handleOpenAPI serves the OpenAPI document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}

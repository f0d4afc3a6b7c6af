package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

type server struct {
	store   *store
	version string
	started time.Time
	mux     *http.ServeMux
}

func newServer(st *store, version string) *server {
	s := &server{store: st, version: version, started: time.Now(), mux: http.NewServeMux()}
	s.mux.HandleFunc("/health", s.health)
	s.mux.HandleFunc("/items", s.items)
	s.mux.HandleFunc("/items/", s.item)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":        "ok",
		"version":       s.version,
		"uptimeSeconds": int(time.Since(s.started).Seconds()),
		"items":         s.store.len(),
	})
}

// items lists (GET) or stores (PUT/POST) items.
func (s *server) items(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"items": s.store.list()})
	case http.MethodPost, http.MethodPut:
		var item Item
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&item); err != nil || item.SKU == "" || item.Quantity < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid item"})
			return
		}
		s.store.put(item)
		writeJSON(w, http.StatusCreated, item)
	default:
		w.Header().Set("Allow", "GET, POST, PUT")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}

// item answers GET /items/{sku} and POST /items/{sku}/take?n=….
func (s *server) item(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/items/")
	sku, action, _ := strings.Cut(rest, "/")
	var (
		item Item
		err  error
	)
	switch {
	case action == "" && r.Method == http.MethodGet:
		item, err = s.store.get(sku)
	case action == "take" && r.Method == http.MethodPost:
		n, convErr := parsePositive(r.URL.Query().Get("n"))
		if convErr != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": convErr.Error()})
			return
		}
		item, err = s.store.take(sku, n)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	switch {
	case errors.Is(err, errNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, errInsufficient):
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "item": item})
	default:
		writeJSON(w, http.StatusOK, item)
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

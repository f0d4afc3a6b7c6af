package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func loadFixture(t *testing.T, st *store) {
	t.Helper()
	body, err := os.ReadFile("testdata/items.json")
	if err != nil {
		t.Fatal(err)
	}
	var items []Item
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatal(err)
	}
	for _, item := range items {
		st.put(item)
	}
}

func do(t *testing.T, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec
}

func TestHealth(t *testing.T) {
	rec := do(t, newServer(newStore(), "test"), http.MethodGet, "/health", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"ok"`) {
		t.Fatalf("health: %d %s", rec.Code, rec.Body)
	}
}

func TestTakeStock(t *testing.T) {
	st := newStore()
	loadFixture(t, st)
	h := newServer(st, "test")

	if rec := do(t, h, http.MethodPost, "/items/TEA-500/take?n=3", ""); rec.Code != http.StatusOK {
		t.Fatalf("take: %d %s", rec.Code, rec.Body)
	}
	item, _ := st.get("TEA-500")
	if item.Quantity != 9 {
		t.Fatalf("quantity after take = %d, want 9", item.Quantity)
	}
	if rec := do(t, h, http.MethodPost, "/items/TEA-500/take?n=100", ""); rec.Code != http.StatusConflict {
		t.Fatalf("overdraw: %d", rec.Code)
	}
	if rec := do(t, h, http.MethodGet, "/items/NOPE", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown sku: %d", rec.Code)
	}
}

func TestPutRejectsBadItems(t *testing.T) {
	h := newServer(newStore(), "test")
	if rec := do(t, h, http.MethodPost, "/items", `{"sku":"","quantity":1}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("empty sku: %d", rec.Code)
	}
	if rec := do(t, h, http.MethodPost, "/items", `{"sku":"X","quantity":1,"colour":"red"}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", rec.Code)
	}
}

package main

import (
	"errors"
	"sort"
	"sync"
)

// Item is one stock-keeping unit and how many are on hand.
type Item struct {
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
}

var errNotFound = errors.New("item not found")
var errInsufficient = errors.New("not enough stock")

// store keeps items in memory, safe for concurrent handlers.
type store struct {
	mu    sync.RWMutex
	items map[string]Item
}

func newStore() *store {
	return &store{items: make(map[string]Item)}
}

func (s *store) put(item Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[item.SKU] = item
}

func (s *store) get(sku string) (Item, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	item, ok := s.items[sku]
	if !ok {
		return Item{}, errNotFound
	}
	return item, nil
}

// take removes n units of sku, refusing to go below zero.
func (s *store) take(sku string, n int) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	item, ok := s.items[sku]
	if !ok {
		return Item{}, errNotFound
	}
	if item.Quantity < n {
		return item, errInsufficient
	}
	item.Quantity -= n
	s.items[sku] = item
	return item, nil
}

func (s *store) list() []Item {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Item, 0, len(s.items))
	for _, item := range s.items {
		out = append(out, item)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

func (s *store) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.items)
}

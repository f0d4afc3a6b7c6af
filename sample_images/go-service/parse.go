package main

import (
	"fmt"
	"strconv"
)

func parsePositive(text string) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("n must be a positive integer, got %q", text)
	}
	return n, nil
}

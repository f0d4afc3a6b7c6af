import { OrderStore } from "../src/store";

describe("OrderStore", () => {
  it("totals lines and filters by customer", () => {
    const store = new OrderStore();
    const when = new Date("2024-03-01T12:00:00Z");
    const a = store.create({ customerId: "a", lines: [{ sku: "x", quantity: 3, unitPriceCents: 250 }] }, when);
    store.create({ customerId: "b", lines: [{ sku: "y", quantity: 1, unitPriceCents: 100 }] }, when);

    expect(a.totalCents).toBe(750);
    expect(a.createdAt).toBe("2024-03-01T12:00:00.000Z");
    expect(store.list("a")).toEqual([a]);
    expect(store.size).toBe(2);
  });
});

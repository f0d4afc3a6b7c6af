import request from "supertest";

import { createApp } from "../src/app";
import { OrderStore } from "../src/store";

describe("orders API", () => {
  const order = { customerId: "c-42", lines: [{ sku: "tea-500g", quantity: 2, unitPriceCents: 899 }] };

  it("answers its health check", async () => {
    const res = await request(createApp(new OrderStore(), "9.9.9")).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", version: "9.9.9", orders: 0 });
  });

  it("creates an order and returns it by id", async () => {
    const app = createApp();
    const created = await request(app).post("/orders").send(order);
    expect(created.status).toBe(201);
    expect(created.body.totalCents).toBe(1798);

    const fetched = await request(app).get(`/orders/${created.body.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);
  });

  it("rejects an order without lines", async () => {
    const res = await request(createApp()).post("/orders").send({ customerId: "c-42", lines: [] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid order");
  });

  it("answers 404 for unknown orders and routes", async () => {
    const app = createApp();
    expect((await request(app).get("/orders/nope")).status).toBe(404);
    expect((await request(app).get("/nowhere")).status).toBe(404);
  });
});

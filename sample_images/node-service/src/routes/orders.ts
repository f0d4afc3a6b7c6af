import { Router } from "express";
import { z } from "zod";

import { OrderStore } from "../store";

const orderLine = z.object({
  sku: z.string().min(1).max(64),
  quantity: z.number().int().positive(),
  unitPriceCents: z.number().int().nonnegative(),
});

const newOrder = z.object({
  customerId: z.string().min(1).max(64),
  lines: z.array(orderLine).min(1).max(100),
});

export function ordersRouter(store: OrderStore): Router {
  const router = Router();

  router.get("/", (req, res) => {
    const customerId = typeof req.query.customerId === "string" ? req.query.customerId : undefined;
    res.json({ orders: store.list(customerId) });
  });

  router.get("/:id", (req, res) => {
    const order = store.get(req.params.id);
    if (order === undefined) {
      res.status(404).json({ error: "order not found" });
      return;
    }
    res.json(order);
  });

  router.post("/", (req, res) => {
    const parsed = newOrder.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid order", issues: parsed.error.issues });
      return;
    }
    res.status(201).json(store.create(parsed.data));
  });

  return router;
}

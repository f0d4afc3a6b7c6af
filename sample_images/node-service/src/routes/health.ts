import { Router } from "express";

import { OrderStore } from "../store";

export function healthRouter(store: OrderStore, version: string, startedAt: Date = new Date()): Router {
  const router = Router();
  router.get("/", (_req, res) => {
    res.json({
      status: "ok",
      version,
      uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      orders: store.size,
    });
  });
  return router;
}

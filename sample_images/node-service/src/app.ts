import express, { type Express, type NextFunction, type Request, type Response } from "express";

import { healthRouter } from "./routes/health";
import { ordersRouter } from "./routes/orders";
import { OrderStore } from "./store";

export function createApp(store: OrderStore = new OrderStore(), version = "0.0.0-dev"): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(express.json({ limit: "100kb" }));

  app.use("/health", healthRouter(store, version));
  app.use("/orders", ordersRouter(store));

  app.use((_req, res) => {
    res.status(404).json({ error: "not found" });
  });
  // Express recognises an error handler by its four parameters.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status ?? 500;
    res.status(status).json({ error: status === 500 ? "internal error" : err.message });
  });
  return app;
}

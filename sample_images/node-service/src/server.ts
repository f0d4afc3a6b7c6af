import { createApp } from "./app";
import { loadConfig } from "./config";
import { OrderStore } from "./store";

const config = loadConfig();
const app = createApp(new OrderStore(), config.version);

const server = app.listen(config.port, config.host, () => {
  console.log(`${config.serviceName} ${config.version} listening on ${config.host}:${config.port}`);
});

// Stop accepting connections and let in-flight requests finish before exiting.
function shutdown(signal: NodeJS.Signals): void {
  console.log(`${signal} received, shutting down`);
  server.close((err) => process.exit(err ? 1 : 0));
  setTimeout(() => process.exit(1), 10_000).unref();
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

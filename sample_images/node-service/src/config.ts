import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Config {
  port: number;
  host: string;
  serviceName: string;
  version: string;
}

/** The version in package.json, which ships next to dist/. */
export function packageVersion(root: string = join(__dirname, "..")): string {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return manifest.version;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? "3000");
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`PORT must be an integer between 1 and 65535, got ${env.PORT}`);
  }
  return {
    port,
    host: env.HOST ?? "0.0.0.0",
    serviceName: env.SERVICE_NAME ?? "orders-api",
    version: packageVersion(),
  };
}
